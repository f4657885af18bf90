"""The canonical task states and how every upstream status word maps onto them."""

from __future__ import annotations

from typing import Literal

State = Literal["queued", "running", "succeeded", "failed", "cancelled"]

STATES: tuple[State, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})

# Words seen across the reverse (feed/callback) and official (runwayml) formats.
_UPSTREAM_WORDS: dict[str, State] = {
    "not_start": "queued",
    "not_started": "queued",
    "submitted": "queued",
    "queued": "queued",
    "queueing": "queued",
    "pending": "queued",
    "waiting": "queued",
    "throttled": "queued",
    "in_progress": "running",
    "processing": "running",
    "running": "running",
    "started": "running",
    "success": "succeeded",
    "succeeded": "succeeded",
    "succeed": "succeeded",
    "completed": "succeeded",
    "complete": "succeeded",
    "finished": "succeeded",
    "failure": "failed",
    "failed": "failed",
    "fail": "failed",
    "error": "failed",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "aborted": "cancelled",
}

_RANK: dict[str, int] = {"queued": 0, "running": 1, "succeeded": 2, "failed": 2, "cancelled": 2}


def map_upstream(word: object) -> State | None:
    """Canonical state for an upstream status word, or None when the word is unknown."""
    if not isinstance(word, str):
        return None
    return _UPSTREAM_WORDS.get(word.strip().lower().replace(" ", "_").replace("-", "_"))


def advances(current: str | None, new: str) -> bool:
    """Whether moving from `current` to `new` is progress.

    States only move forward (queued -> running -> terminal); a terminal state never changes,
    so late, duplicate and out-of-order reports are history, not transitions.
    """
    if current is None:
        return True
    return _RANK[new] > _RANK[current]


def shown_progress(state: str, progress: float | None) -> float | None:
    """The progress a task keeps once it reaches `state`: whole once it succeeded
    (CometAPI's last figure before the end is often short of it), none once it ended
    otherwise (no partial figure for an ended task), as last reported while it runs."""
    if state == "succeeded":
        return 1.0
    if state in TERMINAL_STATES:
        return None
    return progress
