"""The bound on the calls to downstreams that requests wait on: a few in flight per app, a
rate per key within any second, a cap in all below the connection cap; each refusal a 429
naming its limit, with when to ask again, and taking no room. And no module a request
reaches sends to a downstream but through it."""

from __future__ import annotations

import ast
from contextlib import ExitStack
from pathlib import Path

import pytest

import receiver
from receiver.config.sections import ServerConfig
from receiver.kernel.errors import LimitReached
from receiver.kernel.net.request_calls import (
    IN_ALL_LIMIT,
    PER_APP_LIMIT,
    PER_KEY_LIMIT,
    Asker,
    RequestCalls,
)
from receiver.keys.rules import BOOTSTRAP, Caller
from tests.sources import parsed


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _calls(per_app: int = 4, per_key: int = 10, in_all: int = 64) -> tuple[RequestCalls, Clock]:
    clock = Clock()
    return RequestCalls(per_app, per_key, in_all, clock), clock


def test_an_app_holds_a_few_calls_at_once_and_the_next_is_told_when_to_ask_again() -> None:
    calls, clock = _calls()
    alpha = Asker("alpha", "k1")
    with ExitStack() as held:
        for n in range(4):
            clock.now += 1
            held.enter_context(calls.call(Asker("alpha", f"k{n}"), 55))
        assert calls.in_flight("alpha") == 4
        with pytest.raises(LimitReached) as refused, calls.call(alpha, 55):
            pass
        assert refused.value.limit == PER_APP_LIMIT
        assert refused.value.retry_after == 52  # the first call's timeout, 52 s from now
        assert "4 calls to its downstreams in flight" in refused.value.detail
        # Another app, and the operator, have their own room.
        with calls.call(Asker("beta", "b1"), 55), calls.call(Asker(None, "admin token"), 55):
            assert calls.in_flight_in_all == 6
    assert calls.in_flight_in_all == 0
    with calls.call(alpha, 55):  # room again once they ended
        pass


def test_a_key_asks_at_most_its_rate_within_any_second() -> None:
    calls, clock = _calls(per_app=100, per_key=10)
    key = Asker("alpha", "k1")
    for _ in range(10):
        clock.now += 0.01
        with calls.call(key, 5):
            pass
    with pytest.raises(LimitReached) as refused, calls.call(key, 5):
        pass
    assert refused.value.limit == PER_KEY_LIMIT and refused.value.retry_after == 1
    # Another key of the same app has a rate of its own.
    with calls.call(Asker("alpha", "k2"), 5):
        pass
    # A second after the first call, one more fits, and only one.
    clock.now += 1 - 0.09
    with calls.call(key, 5):
        pass
    with pytest.raises(LimitReached), calls.call(key, 5):
        pass


def test_a_refused_call_counts_for_no_rate() -> None:
    calls, clock = _calls(per_app=1, per_key=2)
    key = Asker("alpha", "k1")
    with calls.call(key, 5):
        for _ in range(50):
            with pytest.raises(LimitReached, match="in flight"), calls.call(key, 5):
                pass
    clock.now += 0.5
    with calls.call(key, 5):  # the second of its two this second
        pass


def test_every_app_together_stays_under_the_cap_in_all() -> None:
    calls, _ = _calls(per_app=4, in_all=6)
    with ExitStack() as held:
        for n in range(6):
            held.enter_context(calls.call(Asker(f"app{n}", f"k{n}"), 30))
        with pytest.raises(LimitReached) as refused, calls.call(Asker("app9", "k9"), 30):
            pass
        assert refused.value.limit == IN_ALL_LIMIT and refused.value.retry_after == 30


def test_a_call_that_fails_gives_its_room_back() -> None:
    calls, _ = _calls(per_app=1)
    with pytest.raises(RuntimeError), calls.call(Asker("alpha", "k1"), 5):
        raise RuntimeError("the endpoint went away")
    assert calls.in_flight("alpha") == 0


def test_the_cap_in_all_is_never_past_half_the_connection_cap() -> None:
    assert ServerConfig().request_calls_cap == 64
    assert ServerConfig(max_connections=9).request_calls_cap == 4
    assert ServerConfig(max_connections=1).request_calls_cap == 1


def test_a_caller_asks_as_its_app_and_key() -> None:
    key = Caller("key-1", "ci", frozenset({"downstreams"}), app_id="app-1", app="acme")
    assert key.asker == Asker("app-1", "key-1")
    assert BOOTSTRAP.asker == Asker(None, "admin token")


# What sends to a downstream's URL: a publisher, a route, the handshake.
_OPENERS = {"open_publisher", "open_route", "validate", "ask", "Connections"}
_SENDERS = ("receiver.destinations", "receiver.deliveries.fanout")
# Outside the destinations and the fan-out (whose sends no request waits on), each module
# that sends is a request's, and holds the bound around its send.
_BOUND_BY_REQUESTS = {"deliveries/sample_event.py", "deliveries/actions.py"}


def test_what_a_request_sends_to_a_downstream_goes_through_the_bound() -> None:
    root = Path(receiver.__file__).parent
    sending = set()
    for path in root.rglob("*.py"):
        tree = parsed(path)
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            named = {alias.name for alias in node.names}
            if node.module.startswith(_SENDERS) and named & _OPENERS:
                sending.add(path.relative_to(root).as_posix())
    outside = {p for p in sending if not p.startswith(("destinations/", "deliveries/fanout/"))}
    assert outside == _BOUND_BY_REQUESTS
    for name in _BOUND_BY_REQUESTS:
        assert "calls.call(caller.asker" in (root / name).read_text(), name
