"""The calls to a tenant's URL that a request makes the relay send and wait on (a downstream
validated, a test event): a few in flight per app, a rate per key, and a bound in all kept
below the relay's own connection cap. Past any of the three the request is refused at once
(429, with when to ask again), so that one key's requests hold neither sockets at a target
of its choosing nor the connections another app's requests need. No I/O.

Each process keeps its own: with several replicas each allows this much.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from receiver.kernel.errors import LimitReached

PER_APP_LIMIT = "server.request_calls_per_app"
PER_KEY_LIMIT = "server.request_calls_per_key_per_second"
IN_ALL_LIMIT = "server.request_calls_in_all"
# A key's rate is counted over the last second: at most its rate of calls within any second.
_WINDOW_SECONDS = 1.0
# Past this many keys remembered, those with no call within the window are forgotten.
_KEYS_KEPT = 1024


@dataclass(frozen=True)
class Asker:
    """Whose request it is: its app (None: the operator's own, the admin token's and the
    console's) and its key (an API key's id; a portal session acts through a key of its
    app)."""

    app: str | None
    key: str


class RequestCalls:
    def __init__(
        self,
        per_app: int,
        per_key_per_second: int,
        in_all: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_app, self.per_key, self.in_all = per_app, per_key_per_second, in_all
        self._clock = clock
        # When each call in flight gives up at the latest (its timeout), by app.
        self._ends: dict[str | None, list[float]] = {}
        # The start of each key's calls within the last second, oldest first.
        self._starts: dict[str, deque[float]] = {}

    def in_flight(self, app: str | None = None) -> int:
        return len(self._ends.get(app, ()))

    @property
    def in_flight_in_all(self) -> int:
        return sum(len(ends) for ends in self._ends.values())

    @contextmanager
    def call(self, asker: Asker, seconds: float) -> Iterator[None]:
        """Room for one call that takes at most `seconds`, held while it runs; LimitReached
        (429) at once past the app's calls in flight, the key's rate or the bound in all.
        A refused call takes no room and counts for no rate."""
        now = self._clock()
        ends = self._ends.get(asker.app, [])
        if self.in_flight_in_all >= self.in_all:
            every = [end for each in self._ends.values() for end in each]
            raise LimitReached(
                f"the relay waits on {self.in_all} calls to downstreams that requests asked"
                f" for ({IN_ALL_LIMIT}): ask again when one has ended",
                IN_ALL_LIMIT,
                _seconds_until(min(every), now),
            )
        if len(ends) >= self.per_app:
            raise LimitReached(
                f"this app has {self.per_app} calls to its downstreams in flight"
                f" ({PER_APP_LIMIT}: validations and test events wait on the endpoint):"
                " ask again when one has ended",
                PER_APP_LIMIT,
                _seconds_until(min(ends), now),
            )
        starts = self._starts.get(asker.key)
        if starts is not None:
            while starts and starts[0] <= now - _WINDOW_SECONDS:
                starts.popleft()
            if len(starts) >= self.per_key:
                raise LimitReached(
                    f"this key asked for {self.per_key} calls to downstreams within a second"
                    f" ({PER_KEY_LIMIT}): ask again in a second",
                    PER_KEY_LIMIT,
                    _seconds_until(starts[0] + _WINDOW_SECONDS, now),
                )
        else:
            self._forget_idle_keys(now)
            starts = self._starts[asker.key] = deque()
        starts.append(now)
        end = now + seconds
        self._ends.setdefault(asker.app, []).append(end)
        try:
            yield
        finally:
            held = self._ends[asker.app]
            held.remove(end)
            if not held:
                del self._ends[asker.app]

    def _forget_idle_keys(self, now: float) -> None:
        if len(self._starts) < _KEYS_KEPT:
            return
        for key in [k for k, s in self._starts.items() if not s or s[-1] <= now - _WINDOW_SECONDS]:
            del self._starts[key]


def _seconds_until(moment: float, now: float) -> int:
    """Whole seconds from `now` to `moment`, at least one (Retry-After's)."""
    return max(1, math.ceil(moment - now))
