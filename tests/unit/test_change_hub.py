"""The live streams' shared reader: who may open one more stream, and what happens to a
stream that stops reading."""

from __future__ import annotations

import asyncio

import pytest

from receiver.kernel.errors import Overloaded
from receiver.stream.caps import Caps
from receiver.stream.changes import BEHIND_LIMIT, Subscription, fan_out
from receiver.stream.reads import Change


def change(n: int) -> Change:
    return Change("task", float(n), f"tsk_{n}", f"tsk_{n}", {})


def test_a_client_gets_its_share_and_no_more() -> None:
    caps = Caps(total=5, per_client=2)
    caps.take("10.0.0.1")
    caps.take("10.0.0.1")
    with pytest.raises(Overloaded, match="max_streams_per_client"):
        caps.take("10.0.0.1")
    caps.take("10.0.0.2")
    caps.give_back("10.0.0.1")
    caps.take("10.0.0.1")  # a closed stream's place is free again
    assert len(caps) == 3


def test_every_client_together_meet_the_process_cap() -> None:
    caps = Caps(total=3, per_client=2)
    for client in ("a", "b", "c"):
        caps.take(client)
    with pytest.raises(Overloaded, match="max_streams\\)"):
        caps.take("d")


def test_nothing_is_kept_for_a_client_whose_streams_all_closed() -> None:
    caps = Caps(total=10, per_client=10)
    for _ in range(3):
        caps.take("gone")
    for _ in range(3):
        caps.give_back("gone")
    assert caps.open == {} and len(caps) == 0


def test_each_change_reaches_every_stream_once() -> None:
    subs = {Subscription("a"), Subscription("b")}
    for n in range(3):
        fan_out(change(n), subs)
    for sub in subs:
        assert [sub.queue.get_nowait().key for _ in range(3)] == ["tsk_0", "tsk_1", "tsk_2"]
        assert sub.queue.empty() and not sub.dropped


def test_a_stream_that_stops_reading_is_dropped_not_grown() -> None:
    reading, stuck = Subscription("a"), Subscription("b")
    for n in range(BEHIND_LIMIT + 5):
        fan_out(change(n), {reading, stuck})
        if not reading.queue.empty():
            reading.queue.get_nowait()
    assert stuck.dropped and stuck.queue.qsize() == BEHIND_LIMIT
    assert not reading.dropped
    fan_out(change(-1), {stuck})  # a dropped stream is given nothing more
    assert stuck.queue.qsize() == BEHIND_LIMIT


def test_subscriptions_are_their_own_queues() -> None:
    # Each must be unhashable by value: two of one client are two streams.
    assert len({Subscription("a"), Subscription("a")}) == 2
    assert isinstance(Subscription("a").queue, asyncio.Queue)
