"""Which downstreams' new deliveries, leased to this process in the transaction that made
them, the fan-out starts at once (the others' leases are given back for the claims); and
how many a CloudEvents webhook takes before its endpoint has said its rate."""

from __future__ import annotations

from receiver.config import Downstream
from receiver.deliveries.fanout.lanes import Lane, startable


def lane(
    name: str,
    max_in_flight: int = 4,
    rate: float | None = None,
    shared: float | None = None,
    envelope: str = "relay",
) -> Lane:
    made = Lane.of(
        Downstream(
            name=name,
            url=f"http://127.0.0.1:9/{name}",
            events=["succeeded"],
            envelope=envelope,
            max_in_flight=max_in_flight,
            rate_per_second=rate,
            max_per_second=shared,
            breaker_failure_rate=0.5,
            breaker_min_attempts=2,
            breaker_cool_off_seconds=10.0,
        )
    )
    made.drained = True
    return made


def names(lanes: list[Lane], disabled: set[str], free: int, now: float) -> list[str]:
    backlogged = any(one.backlog for one in lanes)
    return [n.downstream.name for n in lanes if startable(n, backlogged, disabled, free, now)]


def test_every_drained_lane_with_room_starts_while_slots_are_free() -> None:
    lanes = [lane("a"), lane("b"), lane("c")]
    assert names(lanes, set(), 8, 0.0) == ["a", "b", "c"]
    assert names(lanes, set(), 0, 0.0) == []


def test_a_backlog_anywhere_leaves_every_lane_to_the_claims() -> None:
    lanes = [lane("a"), lane("b")]
    lanes[1].drained = False  # a wake-up: rows may wait, none is known to
    assert names(lanes, set(), 8, 0.0) == ["a", "b"]
    lanes[1].backlog = True  # its last claim came back full
    assert names(lanes, set(), 8, 0.0) == []


def test_disabled_rate_limited_budgeted_full_or_broken_lanes_never_start_at_once() -> None:
    full = lane("full", max_in_flight=1)
    full.began(0)
    broken = lane("broken")
    broken.breaker.failed(0.0)
    broken.breaker.failed(0.0)
    budgeted = lane("budgeted", shared=5.0)  # its tokens are the store's, drawn by claims
    lanes = [lane("off"), lane("rated", rate=10.0), budgeted, full, broken, lane("ok")]
    assert broken.breaker.allowance(1.0) == 0  # open: the claims would not send either
    assert names(lanes, {"off"}, 8, 1.0) == ["ok"]


def test_a_cloudevents_webhook_takes_one_delivery_until_its_endpoint_answers() -> None:
    asking = lane("ce", envelope="cloudevents")
    assert asking.unasked and asking.allowance(0.0, 8) == 1
    assert names([asking], set(), 8, 0.0) == ["ce"]
    asking.began(0)  # the attempt that asks: nothing goes beside it
    assert asking.allowance(0.0, 8) == 0 and names([asking], set(), 8, 0.0) == []
    asking.unasked, asking.allowed_per_second = False, 0.5  # answered: 30 a minute
    assert asking.allowance(0.0, 8) == 3 and asking.per_second == 0.5
    assert not lane("plain").unasked


def test_a_lane_counts_its_attempts_in_flight_begun_before_one_that_ends() -> None:
    burst = lane("burst", max_in_flight=8)
    for turn in (1, 2, 3, 4, 5):
        burst.began(turn)
    assert burst.in_flight == 5
    assert burst.ended(3) == 2  # the first two are still out
    assert burst.ended(5) == 3  # every one left began before it
    assert burst.ended(1) == 0 and burst.in_flight == 2


def test_a_lanes_claim_failure_is_news_once_per_change() -> None:
    made = lane("hook")
    overflow = OverflowError("cannot convert float infinity to integer")
    assert made.claim_failed(overflow)
    # The same error every tick is logged once.
    assert not made.claim_failed(OverflowError("cannot convert float infinity to integer"))
    assert made.claim_failed(ValueError("another"))
    made.claim_failure = None  # a claim went through
    assert made.claim_failed(overflow)
