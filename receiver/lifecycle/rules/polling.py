"""When to ask CometAPI about a task, and how many polls may go at once. Pure.

When: dense around the task's estimated end (from its progress, else the history of tasks
like it, else a prior), sparse before, never a gap past `ceiling`. How many: a token bucket
the replicas share through the store, which a 429 empties until its Retry-After has passed,
so that every replica holds its polls, not only the one refused.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from receiver.lifecycle.rules.task import is_callback

# A fraction this small says nothing yet about the rate (a first tick of "1%").
_MIN_PROGRESS = 0.03
# Fewest finished tasks before their durations count as history, and the most read.
MIN_HISTORY = 3
HISTORY_SIZE = 50
# About one end in this many trims its kind's history back to HISTORY_SIZE: the rows let go
# are then deleted together, where a trim at every end wrote an old page of the table and
# of its index in every success's transaction.
HISTORY_TRIM_EVERY = 16


@dataclass(frozen=True)
class PollRule:
    """The shape of the polls (the `polling` config section)."""

    near_gap: float = 2.0  # across the window where the end is expected
    waiting_gap: float = 5.0  # the longest gap while CometAPI has not started the task
    ceiling: float = 60.0  # never a longer gap, so a wrong estimate still ends
    # The longest gap while a task runs: a task may fail at any point of its run.
    running_gap: float = 12.0
    # Half the window around an estimate from progress: this many seconds plus a share of
    # the task's estimated run (progress ticks unevenly, in whole percents).
    window_seconds: float = 3.0
    window_share: float = 0.02
    # With neither progress nor history, each gap is this share of the task's age, and
    # while it runs no longer than Runway's SDK waits between polls: a kind's first tasks
    # are polled at the SDK's pace until they give it a history.
    prior_share: float = 0.08
    unknown_gap: float = 6.0


@dataclass(frozen=True)
class Window:
    """Where a task's end is expected, in seconds after its submit."""

    low: float
    high: float


@dataclass(frozen=True)
class Seen:
    """What the relay knows of an unfinished task when it schedules the next poll."""

    now: float
    created_at: float
    started: bool  # CometAPI said RUNNING (not PENDING, THROTTLED or QUEUED)
    started_at: float | None = None  # when the relay first saw it running
    progress: float | None = None  # 0 to 1, the latest CometAPI reported
    usual: Window | None = None  # from the history of its kind


@dataclass(frozen=True)
class Next:
    """The next poll, and the end it aims at (None when nothing estimates it)."""

    at: float
    expected_end: float | None


def timing_key(kind: str, request: Mapping[str, Any]) -> str:
    """Tasks that take about as long: the same kind, model and requested duration."""
    return f"{kind}|{request.get('model', '')}|{request.get('duration', '')}"


def trims_history(task_id: str) -> bool:
    """Whether this task's end trims its kind's history (one in HISTORY_TRIM_EVERY, by id)."""
    return zlib.crc32(task_id.encode()) % HISTORY_TRIM_EVERY == 0


def usual_window(durations: Sequence[float]) -> Window | None:
    """Where tasks of one kind end: their durations' 10th to 90th percentile (None: few)."""
    if len(durations) < MIN_HISTORY:
        return None
    ordered = sorted(durations)
    return Window(_percentile(ordered, 0.1), _percentile(ordered, 0.9))


def _percentile(ordered: Sequence[float], share: float) -> float:
    rank = share * (len(ordered) - 1)
    below = math.floor(rank)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (rank - below)


def end_from_progress(started_at: float, now: float, progress: float) -> float | None:
    """The end the progress so far points to, at the rate seen since the task started."""
    if progress < _MIN_PROGRESS or now <= started_at:
        return None
    return started_at + (now - started_at) / min(progress, 1.0)


def expected_window(seen: Seen, rule: PollRule) -> Window | None:
    """Where the task's end is expected: by its progress, else its kind's history."""
    if seen.started and seen.started_at is not None and seen.progress is not None:
        end = end_from_progress(seen.started_at, seen.now, seen.progress)
        if end is not None:
            half = rule.window_seconds + rule.window_share * (end - seen.started_at)
            return Window(end - half - seen.created_at, end + half - seen.created_at)
    return seen.usual


def next_poll(seen: Seen, rule: PollRule) -> Next:
    """When to poll an unfinished task next, and the end that time aims at."""
    age = max(0.0, seen.now - seen.created_at)
    window = expected_window(seen, rule)
    if window is None:
        gap = max(rule.waiting_gap, rule.prior_share * age)
        if seen.started:
            gap = min(gap, rule.unknown_gap)
        end = None
    else:
        gap = _gap(age, window, rule)
        end = seen.created_at + (window.low + window.high) / 2
    # A task not yet begun is not near its end; a running one may fail at any time.
    gap = min(gap, rule.running_gap) if seen.started else rule.waiting_gap
    return Next(seen.now + min(max(gap, rule.near_gap), rule.ceiling), end)


def _gap(age: float, window: Window, rule: PollRule) -> float:
    """Half the way to the window, `near_gap` inside it, then growing by a quarter of the
    time overdue."""
    if age < window.low:
        return (window.low - age) / 2
    if age <= window.high:
        return rule.near_gap
    return rule.near_gap + (age - window.high) / 4


def lost_callback_check(created_at: float, usual: Window | None, rule: PollRule) -> float | None:
    """When a callback-route task is first polled in case its callback is lost: just past
    where its kind usually ends; None before any history."""
    if usual is None:
        return None
    return created_at + usual.high + rule.window_seconds


@dataclass(frozen=True)
class CallbackPolls:
    """How an unfinished callback-route task is polled, placed in time after a poll."""

    grace_at: float  # the end of its grace period (`polling.callback_grace_seconds`)
    later_at: float  # the next poll once that period has passed (the backoff's)
    waiting_gap: float  # while CometAPI has not started it
    lost: PollRule  # its `near_gap` sets the lost-callback polls apart
    lost_polls: int  # how many look for a lost callback


def callback_poll(
    plan: CallbackPolls, state: str, created_at: float, usual: Window | None, now: float
) -> float:
    """The next poll of an unfinished callback-route task. CometAPI calls back only when a
    task ends, so a queued one is asked every `waiting_gap` (to show `running`); then the
    callback is awaited, but for `lost_polls` polls in case it is lost."""
    if now >= plan.grace_at:
        return plan.later_at
    if state == "queued":
        return min(plan.grace_at, now + plan.waiting_gap)
    check = lost_callback_check(created_at, usual, plan.lost)
    if check is None or plan.lost_polls <= 0:
        return plan.grace_at
    if now < check:
        return min(plan.grace_at, check)
    gap = plan.lost.near_gap
    looked = 1 + int((now - check) / gap)  # the poll at the check, then one each gap
    return min(plan.grace_at, now + gap) if looked < plan.lost_polls else plan.grace_at


def poll_backoff(attempts: int, interval: float, factor: float, maximum: float) -> float:
    """The wait before the next poll of a task asked `attempts` times."""
    return float(min(maximum, interval * factor**attempts))


@dataclass(frozen=True)
class PollSchedule:
    """When the poller asks about a task again after a poll (the `polling` config section):
    `rule`, or a callback-route task's own plan within its grace period, then a backoff."""

    rule: PollRule
    lost_rule: PollRule
    interval: float
    factor: float
    max_interval: float
    callback_grace: float
    lost_polls: int

    def after(
        self, kind: str, created_at: float, attempts: int, now: float, failed: bool
    ) -> float | PollRule | CallbackPolls:
        """The next poll of a task of `kind` asked `attempts` times (a failed poll backs off)."""
        backoff = poll_backoff(attempts, self.interval, self.factor, self.max_interval)
        if not is_callback(kind):
            return now + min(backoff, self.rule.ceiling) if failed else self.rule
        grace_at = created_at + self.callback_grace
        later_at = max(grace_at, now + backoff)
        if failed or now >= grace_at:
            return later_at
        return CallbackPolls(
            grace_at, later_at, self.rule.waiting_gap, self.lost_rule, self.lost_polls
        )


_EPSILON = 1e-9  # a whole poll's worth summed from a float's fractions still counts as whole


@dataclass(frozen=True)
class PollLease:
    """How a process leases the polls it makes, and the budget they come out of."""

    owner: str
    seconds: float
    ceiling: float  # no due poll is put further back than this
    max_per_second: float | None  # None: no budget, only CometAPI's 429 holds polls


@dataclass(frozen=True)
class Bucket:
    tokens: float
    at: float  # refilled up to here; in the future while CometAPI asked for no polls


def burst(rate: float) -> float:
    """A second's worth, at least one poll: a claim right after a quiet spell may take it."""
    return max(1.0, rate)


def take(bucket: Bucket, now: float, rate: float | None, want: int) -> tuple[int, Bucket]:
    """How many of `want` polls may go now, and the bucket after them."""
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
