"""A bounded memory of what happened lately, by key, in this process only: what a callback
asked of a task, the callback URL a task was queued with. Past its size, entries older than
their window go first, else the oldest."""

from __future__ import annotations

import time
from typing import Generic, TypeVar

V = TypeVar("V")


class Recent(Generic[V]):
    """Each key's latest value, for `window` seconds (monotonic), at most `size` keys."""

    def __init__(self, window: float, size: int) -> None:
        self.window = window
        self.size = size
        self._kept: dict[str, tuple[float, V]] = {}

    def get(self, key: str, window: float | None = None) -> V | None:
        """`key`'s value, if it was kept within `window` seconds (default: the memory's)."""
        kept = self._kept.get(key)
        within = self.window if window is None else window
        if kept is None or time.monotonic() - kept[0] >= within:
            return None
        return kept[1]

    def keep(self, key: str, value: V) -> None:
        now, kept = time.monotonic(), self._kept
        if len(kept) >= self.size:
            old = [k for k, (at, _) in kept.items() if now - at >= self.window]
            for gone in old or [next(iter(kept))]:
                del kept[gone]
        kept[key] = (now, value)
