"""Pruning ended tasks, one small batch per transaction, and the lease that lets one
replica at a time do it. The rules of what goes are receiver/domain/retention.py's."""

from __future__ import annotations

from dataclasses import dataclass, field

from receiver.domain.retention import (
    KINDS,
    Batch,
    Candidate,
    Cursor,
    RetentionPolicy,
    next_batch,
)
from receiver.persist.db import Db

PRUNE_LEASE = "prune"


@dataclass(frozen=True)
class PruneStep:
    """What one batch removed (or, in a dry run, would remove), by kind, and where the walk
    goes on."""

    batch: Batch
    removed: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StoreSize:
    bytes: int  # what the store takes on disk
    free_bytes: int  # of it, free pages a SQLite file could give back (PostgreSQL: 0)


def step(db: Db, policy: RetentionPolicy, now: float, cursor: Cursor, apply: bool) -> PruneStep:
    """The next batch past `cursor`: deleted with everything that hangs on each task when
    `apply`, else only counted (a dry run)."""
    rows = db.all(
        db.sql.PRUNE_CANDIDATES,
        (policy.ended_before(now), cursor.ended_at, cursor.task_id, policy.batch_size),
    )
    candidates = [
        Candidate(r["id"], r["state"], r["terminal_at"], int(r["unfinished"]), r["last_dead_at"])
        for r in rows
    ]
    batch = next_batch(candidates, policy, now, cursor)
    if not batch.task_ids:
        return PruneStep(batch)
    ids = db.array(batch.task_ids)
    if not apply:
        counts = db.one(db.sql.PRUNE_COUNTS, (ids,) * 5) or {}
        removed = {kind: int(counts.get(kind) or 0) for kind in KINDS if kind != "tasks"}
        return PruneStep(batch, {**removed, "tasks": len(batch.task_ids)})
    deletes = {
        "attempts": db.sql.PRUNE_ATTEMPTS,
        "chat_messages": db.sql.PRUNE_CHAT_MESSAGES,
        "mirrors": db.sql.PRUNE_MIRRORS,
        "deliveries": db.sql.PRUNE_DELIVERIES,
        "events": db.sql.PRUNE_EVENTS,
        "tasks": db.sql.PRUNE_TASKS,
    }
    # A task's sends to CometAPI go with it (its history; not a kind of its own).
    db.execute(db.sql.PRUNE_SUBMIT_ATTEMPTS, (ids,))
    return PruneStep(batch, {kind: db.execute(deletes[kind], (ids,)) for kind in KINDS})


def take_lease(db: Db, owner: str, now: float, seconds: float) -> bool:
    """Hold the prune's lease for `seconds` more, unless another replica holds it."""
    taken = db.execute(
        db.sql.TAKE_MAINTENANCE_LEASE, (owner, now + seconds, PRUNE_LEASE, owner, now)
    )
    return taken == 1


def release_lease(db: Db, owner: str) -> None:
    db.execute(db.sql.RELEASE_MAINTENANCE_LEASE, (PRUNE_LEASE, owner))


def size(db: Db) -> StoreSize:
    row = db.one(db.sql.STORE_SIZE) or {}
    return StoreSize(int(row.get("bytes") or 0), int(row.get("free_bytes") or 0))
