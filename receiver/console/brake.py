"""The brake on guessing the admin token: per client, and harder on failers when many fail.

A client is its address (the connection's, or what a trusted proxy forwarded), unless it
brings a known-browser cookie (set by an earlier successful login, signed, see session.py):
then it is that browser, braked on its own. So an attacker who shares the operator's
address (an untrusted proxy in front, one NAT) can lock that address but not the operator's
own browser, whose cookie it cannot forge.

Past `per_minute` failures in 60 s a client gets 429 until the oldest leaves the window.
When every client's failures together pass `pressure_after` in 60 s (many addresses
guessing), each address may fail only once in the window: one that has failed waits, one
that has not is still heard, and known browsers keep their own allowance. Nobody is ever
refused for what others did, so the operator gets in from a clean address or a known
browser whatever the load.

Kept in this process's memory: each replica counts on its own, which still caps a guesser
at `per_minute` times the replicas tries a minute. The table is bounded: past
`max_clients` clients the one idle longest is forgotten.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

WINDOW = 60.0

Key = tuple[str, str]  # ("address", host) or ("browser", id): never the one for the other


def _key(address: str, browser: str | None) -> Key:
    return ("browser", browser) if browser is not None else ("address", address)


class LoginBrake:
    def __init__(
        self,
        per_minute: int,
        pressure_after: int,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        self._limit = per_minute
        self._clock = clock
        self._max_clients = max_clients
        self._failures: OrderedDict[Key, list[float]] = OrderedDict()
        # Only whether the last `pressure_after` failures all fell in the window matters.
        self._everyone: deque[float] = deque(maxlen=pressure_after)

    def under_pressure(self) -> bool:
        """True while every client's failures together pass the global bound."""
        full = len(self._everyone) == self._everyone.maxlen
        return full and self._everyone[0] > self._clock() - WINDOW

    def _recent(self, key: Key) -> list[float]:
        horizon = self._clock() - WINDOW
        recent = [t for t in self._failures.get(key, []) if t > horizon]
        if recent:
            self._failures[key] = recent
        else:
            self._failures.pop(key, None)
        return recent

    def retry_after(self, address: str, browser: str | None = None) -> float | None:
        """Seconds this client must wait before its token is checked again, or None."""
        recent = self._recent(_key(address, browser))
        allowed = 1 if browser is None and self.under_pressure() else self._limit
        if len(recent) < allowed:
            return None
        return max(1.0, recent[-allowed] + WINDOW - self._clock())

    def failed(self, address: str, browser: str | None = None) -> None:
        key = _key(address, browser)
        recent = self._recent(key)
        now = self._clock()
        recent.append(now)
        self._everyone.append(now)
        self._failures[key] = recent
        self._failures.move_to_end(key)
        while len(self._failures) > self._max_clients:
            self._failures.popitem(last=False)

    def succeeded(self, address: str, browser: str | None = None) -> None:
        self._failures.pop(_key(address, browser), None)
