"""Pruning ended tasks, one small batch per transaction, and the lease that lets one
replica at a time do it. What goes is decided in receiver/transitions/prune.py, by
receiver/retention/rules.py's rules."""

from __future__ import annotations

from dataclasses import dataclass, field

from receiver.kernel.store.db import Db
from receiver.retention.rules import KINDS, Batch, Candidate, Cursor, RetentionPolicy

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


def candidates(db: Db, policy: RetentionPolicy, now: float, cursor: Cursor) -> list[Candidate]:
    """The ended tasks past `cursor` that the policy's age lets go, oldest first."""
    rows = db.all(
        db.sql.PRUNE_CANDIDATES,
        (policy.ended_before(now), cursor.ended_at, cursor.task_id, policy.batch_size),
    )
    return [
        Candidate(r["id"], r["state"], r["terminal_at"], int(r["unfinished"]), r["last_dead_at"])
        for r in rows
    ]


def remove(db: Db, task_ids: list[str]) -> dict[str, int]:
    """Delete the tasks with everything that hangs on each; how many rows, by kind."""
    ids = db.array(task_ids)
    deletes = {
        "attempts": db.sql.PRUNE_ATTEMPTS,
        "chat_messages": db.sql.PRUNE_CHAT_MESSAGES,
        "mirrors": db.sql.PRUNE_MIRRORS,
        "deliveries": db.sql.PRUNE_DELIVERIES,
        "events": db.sql.PRUNE_EVENTS,
        "tasks": db.sql.PRUNE_TASKS,
    }
    # A task's sends to CometAPI and its data URIs go with it (not kinds of their own).
    db.execute(db.sql.PRUNE_SUBMIT_ATTEMPTS, (ids,))
    db.execute(db.sql.PRUNE_TASK_INPUTS, (ids,))
    return {kind: db.execute(deletes[kind], (ids,)) for kind in KINDS}


def count(db: Db, task_ids: list[str]) -> dict[str, int]:
    """What `remove` would delete, counted, nothing deleted."""
    counts = db.one(db.sql.PRUNE_COUNTS, (db.array(task_ids),) * 5) or {}
    removed = {kind: int(counts.get(kind) or 0) for kind in KINDS if kind != "tasks"}
    return {**removed, "tasks": len(task_ids)}


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
