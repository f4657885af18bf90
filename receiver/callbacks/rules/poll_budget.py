"""The poll budget: at most `rate` polls a second over every replica.

A token bucket the replicas share through the store: each claim of due polls draws what it
takes, the bucket refills at `rate` up to one second's worth, and a 429 from CometAPI empties
it until its Retry-After has passed, so that every replica holds its polls, not only the one
that was refused.
"""

from __future__ import annotations

from dataclasses import dataclass

_EPSILON = 1e-9  # a whole poll's worth summed from a float's fractions still counts as whole


@dataclass(frozen=True)
class Bucket:
    tokens: float
    at: float  # refilled up to here; in the future while CometAPI asked for no polls


def burst(rate: float) -> float:
    """A second's worth, at least one poll: a claim right after a quiet spell may take it."""
    return max(1.0, rate)


def take(bucket: Bucket, now: float, rate: float | None, want: int) -> tuple[int, Bucket]:
    """How many of `want` polls may go now, and the bucket after them. No rate: as many
    as wanted, unless a 429 still holds them."""
    if now < bucket.at:
        return 0, bucket
    if rate is None:
        return want, bucket
    tokens = min(burst(rate), bucket.tokens + (now - bucket.at) * rate)
    granted = max(0, min(want, int(tokens + _EPSILON)))
    return granted, Bucket(tokens - granted, now)


def give_back(bucket: Bucket, unused: int, rate: float | None) -> Bucket:
    """Tokens drawn for polls that were not due after all."""
    if rate is None or unused <= 0:
        return bucket
    return Bucket(min(burst(rate), bucket.tokens + unused), bucket.at)


def held(bucket: Bucket, now: float, wait: float) -> Bucket:
    """CometAPI's 429 on a poll: nothing is drawn until `wait` has passed."""
    return Bucket(0.0, max(bucket.at, now + wait))
