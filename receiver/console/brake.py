"""The brake on guessing the admin token: per client, and harder on failers when many fail.

A client is its address, unless it brings a known-browser cookie (signed, set by an earlier
login: session.py): then it is that browser, braked on its own, so that one who shares the
operator's address (a proxy, a NAT) can lock the address but not the operator's browser.
When every client's failures together pass `pressure_after` in 60 s, each address may fail
once a window; nobody is refused for what others did. Kept in this process's memory (each
replica counts on its own), for at most `max_clients` clients, the idlest forgotten first.
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
