"""What one key may hold at the agents' door: its MCP sessions, its `GET /mcp` streams, and
its requests in flight with their bodies. Past any, only that key is refused.

The SDK ends idle sessions but counts them only in all: the ledger counts them per key,
under the same rule. It sees each request from before the SDK does to after, so it never
forgets a session the SDK still keeps. No I/O, no SDK import.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from receiver.agents.watch import subscriber_name
from receiver.kernel.errors import LimitReached
from receiver.keys.rules import Caller
from receiver.stream.caps import Holder
from receiver.stream.changes import ChangeHub

SESSIONS_LIMIT = "mcp.max_sessions_per_key"
IN_FLIGHT_LIMIT = "requests in flight"


@dataclass
class _Session:
    key: str
    in_flight: int = 0
    idle_since: float = 0.0


class SessionLedger:
    """Each key's open MCP sessions, and the sessions being opened now."""

    def __init__(
        self, per_key: int, idle_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_key, self.idle_seconds, self._clock = per_key, idle_seconds, clock
        self._sessions: dict[str, _Session] = {}
        self._of_key: dict[str, set[str]] = {}
        self._opening: Counter[str] = Counter()  # opening requests in flight, by key

    def held(self, key: str) -> int:
        """The key's sessions, those being opened included."""
        self._expire(key)
        return len(self._of_key.get(key, ())) + self._opening[key]

    def admit(self, key: str) -> None:
        """One more session is being opened by `key`: LimitReached (429) past its cap. Each
        admit is followed by one `opened`."""
        if self.held(key) >= self.per_key:
            raise LimitReached(
                f"this key has {self.per_key} MCP sessions open ({SESSIONS_LIMIT}): end one"
                " (DELETE /mcp with its Mcp-Session-Id) or let an idle one expire",
                SESSIONS_LIMIT,
                self._retry_after(key),
            )
        self._opening[key] += 1

    def opened(self, key: str, session_id: str | None) -> None:
        """The opening request is done: the session it opened, or None when it opened none."""
        self._opening[key] -= 1
        if self._opening[key] <= 0:
            del self._opening[key]
        if session_id is not None and session_id not in self._sessions:
            self._sessions[session_id] = _Session(key, idle_since=self._clock())
            self._of_key.setdefault(key, set()).add(session_id)

    def begin(self, key: str, session_id: str) -> None:
        """A request on the session is in flight (not counted for another key's request:
        the SDK refuses that one)."""
        session = self._sessions.get(session_id)
        if session is not None and session.key == key:
            session.in_flight += 1

    def end(self, key: str, session_id: str, *, gone: bool = False) -> None:
        """The request that `begin` counted is done; `gone`: the SDK no longer knows the
        session (ended by its client, expired, or lost), so neither does the ledger."""
        session = self._sessions.get(session_id)
        if session is None or session.key != key:
            return
        session.in_flight = max(0, session.in_flight - 1)
        session.idle_since = self._clock()
        if gone:
            self._forget(session_id)

    def _forget(self, session_id: str) -> None:
        session = self._sessions.pop(session_id)
        mine = self._of_key.get(session.key)
        if mine is not None:
            mine.discard(session_id)
            if not mine:
                del self._of_key[session.key]

    def _expire(self, key: str) -> None:
        now = self._clock()
        for session_id in list(self._of_key.get(key, ())):
            session = self._sessions[session_id]
            if session.in_flight == 0 and now - session.idle_since >= self.idle_seconds:
                self._forget(session_id)

    def _retry_after(self, key: str) -> int:
        """Whole seconds until the key's first idle session expires (or the idle time, when
        every session is busy)."""
        now = self._clock()
        ends = [
            self._sessions[s].idle_since + self.idle_seconds - now
            for s in self._of_key.get(key, ())
            if self._sessions[s].in_flight == 0
        ]
        return max(1, math.ceil(min(ends, default=self.idle_seconds)))


class InFlight:
    """Each key's POST requests not answered yet, and the bytes of their bodies: what the
    SDK holds grows with both, so both are bounded per key, before a body is read."""

    def __init__(self, requests: int, body_bytes: int) -> None:
        self.requests, self.body_bytes = requests, body_bytes
        self._count: Counter[str] = Counter()
        self._bytes: Counter[str] = Counter()

    @contextmanager
    def request(self, key: str, size: int) -> Iterator[Callable[[int], None]]:
        """One more request of `key` whose body is at most `size` bytes, held until it is
        answered; yields `settle`, which counts its body at its real size once read."""
        if self._count[key] >= self.requests:
            raise LimitReached(
                f"this key has {self.requests} requests in flight at the agents' door (at"
                f" most {self.requests}: max_streams_per_client and 16 more): wait for"
                " their answers",
                IN_FLIGHT_LIMIT,
                1,
            )
        if self._bytes[key] + size > self.body_bytes:
            raise LimitReached(
                f"this key's requests in flight at the agents' door hold {self._bytes[key]:,}"
                f" bytes of bodies, and this one may bring {size:,} more (at most"
                f" {self.body_bytes:,} in all): wait for their answers",
                IN_FLIGHT_LIMIT,
                1,
            )
        held = size
        self._count[key] += 1
        self._bytes[key] += held

        def settle(actual: int) -> None:
            nonlocal held
            self._bytes[key] += actual - held
            held = actual

        try:
            yield settle
        finally:
            self._count[key] -= 1
            self._bytes[key] -= held
            if self._count[key] <= 0:
                del self._count[key], self._bytes[key]


def key_of(caller: Caller) -> str:
    return caller.key_id or "admin-token"


@contextmanager
def stream_place(hub: ChangeHub, caller: Caller) -> Iterator[None]:
    """A place in the operators' stream pool for one `GET /mcp` stream, under the key's cap
    there (one key is one client, as for `wait_for_task`): Overloaded (503) past either."""
    client, holder = subscriber_name(caller), Holder(key_id=caller.key_id)
    hub.pools.take(client, holder)
    hub.metrics.streams_open.set(len(hub.pools))
    try:
        yield
    finally:
        hub.pools.give_back(client, holder)
        hub.metrics.streams_open.set(len(hub.pools))
