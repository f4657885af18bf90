"""Each key's MCP sessions (receiver/agents/bounds.py): capped per key, an idle one forgotten
only once the SDK has ended it too, another key's requests counting for nothing."""

from __future__ import annotations

import pytest

from receiver.agents.bounds import SESSIONS_LIMIT, SessionLedger
from receiver.kernel.errors import LimitReached


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ledger(per_key: int = 2, idle: float = 300.0) -> tuple[SessionLedger, Clock]:
    clock = Clock()
    return SessionLedger(per_key, idle, clock), clock


def open_one(sessions: SessionLedger, key: str, session_id: str | None) -> None:
    sessions.admit(key)
    sessions.opened(key, session_id)


def test_past_its_cap_only_that_key_is_refused_with_when_to_come_back() -> None:
    sessions, _ = ledger()
    open_one(sessions, "a", "s1")
    open_one(sessions, "a", "s2")
    with pytest.raises(LimitReached) as refused:
        sessions.admit("a")
    assert refused.value.limit == SESSIONS_LIMIT and refused.value.retry_after == 300
    assert SESSIONS_LIMIT in refused.value.detail
    open_one(sessions, "b", "s3")  # another key has its own room
    assert sessions.held("a") == 2 and sessions.held("b") == 1


def test_sessions_being_opened_count_and_one_that_opened_none_frees_its_place() -> None:
    sessions, _ = ledger()
    sessions.admit("a")
    sessions.admit("a")
    with pytest.raises(LimitReached):
        sessions.admit("a")  # two openings in flight: no third at once
    sessions.opened("a", None)  # refused by the SDK (not an initialize)
    sessions.opened("a", "s1")
    assert sessions.held("a") == 1


def test_an_idle_session_is_forgotten_after_the_idle_time_a_busy_one_never() -> None:
    sessions, clock = ledger(per_key=1, idle=300.0)
    open_one(sessions, "a", "s1")
    sessions.begin("a", "s1")  # its GET stream, held open
    clock.now += 3600
    assert sessions.held("a") == 1
    sessions.end("a", "s1")
    clock.now += 299
    with pytest.raises(LimitReached) as refused:
        sessions.admit("a")
    assert refused.value.retry_after == 1  # when the idle one ends
    clock.now += 1
    assert sessions.held("a") == 0
    open_one(sessions, "a", "s2")


def test_a_session_gone_in_the_sdk_is_gone_here_and_another_keys_requests_do_nothing() -> None:
    sessions, _ = ledger(per_key=1)
    open_one(sessions, "a", "s1")
    sessions.begin("b", "s1")  # another key presenting a's session: the SDK refuses it
    sessions.end("b", "s1", gone=True)
    assert sessions.held("a") == 1
    sessions.begin("a", "s1")
    sessions.end("a", "s1", gone=True)  # its DELETE, or a 404 (ended in the SDK)
    assert sessions.held("a") == 0
