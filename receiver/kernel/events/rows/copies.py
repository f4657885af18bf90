"""A finished render's copies, started in the transaction that records it: one mirror job
for the event's files, its deliveries held until the copy ends (receiver/media/ takes the
job from there)."""

from __future__ import annotations

from typing import Any

import orjson

from receiver.kernel.store.db import Db, Sql


def sources_of(document: dict[str, Any]) -> list[dict[str, str]]:
    role = document.get("output_type") or "video"  # documents before output_type: videos
    found = [{"role": role, "url": url} for url in document.get("outputs") or []]
    if document.get("thumbnail"):
        found.append({"role": "poster", "url": document["thumbnail"]})
    return found


INSERT_MIRROR = Sql(
    "INSERT INTO mirrors (event_id, task_id, state, sources, started_at, next_attempt_at)"
    " VALUES (?, ?, 'pending', ?, ?, ?)"
)


def start(db: Db, event_id: str, task_id: str, document: dict[str, Any], now: float) -> bool:
    """A job for this event's files; False when it has none to copy."""
    sources = sources_of(document)
    if not sources:
        return False
    db.execute(INSERT_MIRROR, (event_id, task_id, orjson.dumps(sources).decode(), now, now))
    return True


def copying(db: Db, task_id: str) -> bool:
    """Whether a copy of the task's files is still being made."""
    return db.one(MIRROR_PENDING, (task_id,)) is not None


MIRROR_PENDING = Sql(
    "SELECT 1 AS busy FROM mirrors WHERE task_id = ? AND state = 'pending' LIMIT 1"
)
