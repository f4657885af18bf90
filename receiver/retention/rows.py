"""Pruning ended tasks, one small batch per transaction, and the lease that lets one
replica at a time do it. What goes is decided in receiver/retention/transactions.py, by
receiver/retention/rules.py's rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from receiver.kernel.store.db import Db, Sql
from receiver.lifecycle.rows import events, mirrors
from receiver.lifecycle.rows.tasks import intake
from receiver.outbox.rows import outbox
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


_CANDIDATES = (
    "SELECT t.id, t.state, t.terminal_at,"
    " (SELECT COUNT(*) FROM deliveries d WHERE d.task_id = t.id"
    " AND d.state IN ('pending', 'held', 'mirroring')) AS unfinished,"
    " (SELECT MAX(d.updated_at) FROM deliveries d WHERE d.task_id = t.id"
    " AND d.state = 'dead') AS last_dead_at"
    " FROM tasks t{index} WHERE t.terminal_at IS NOT NULL"
    " AND t.terminal_at < ? AND (t.terminal_at, t.id) > (?, ?)"
    " ORDER BY t.terminal_at, t.id LIMIT ?{lock}"
)
PRUNE_CANDIDATES = Sql(
    sqlite=_CANDIDATES.format(index=" INDEXED BY tasks_ended", lock=""),
    # Each candidate is locked, and one being recorded just now is skipped: no event can
    # land on a task while it is being deleted.
    postgres=_CANDIDATES.format(index="", lock=" FOR UPDATE OF t SKIP LOCKED"),
)


def candidates(db: Db, policy: RetentionPolicy, now: float, cursor: Cursor) -> list[Candidate]:
    """The ended tasks past `cursor` that the policy's age lets go, oldest first."""
    rows = db.all(
        PRUNE_CANDIDATES,
        (policy.ended_before(now), cursor.ended_at, cursor.task_id, policy.batch_size),
    )
    return [
        Candidate(r["id"], r["state"], r["terminal_at"], int(r["unfinished"]), r["last_dead_at"])
        for r in rows
    ]


PRUNE_ATTEMPTS = Sql("DELETE FROM delivery_attempts WHERE task_id = ANY(?)")

PRUNE_CHAT_MESSAGES = Sql("DELETE FROM chat_messages WHERE task_id = ANY(?)")

PRUNE_SUBMIT_ATTEMPTS = Sql("DELETE FROM submit_attempts WHERE task_id = ANY(?)")

PRUNE_TASK_INPUTS = Sql("DELETE FROM task_inputs WHERE task_id = ANY(?)")


def remove(db: Db, task_ids: list[str]) -> dict[str, int]:
    """Delete the tasks with everything that hangs on each; how many rows, by kind."""
    ids = db.array(task_ids)
    # A task's sends to CometAPI and its data URIs go with it (not kinds of their own).
    db.execute(PRUNE_SUBMIT_ATTEMPTS, (ids,))
    db.execute(PRUNE_TASK_INPUTS, (ids,))
    # The tables of the lifecycle delete their own rows.
    deletes: dict[str, Callable[[], int]] = {
        "attempts": lambda: db.execute(PRUNE_ATTEMPTS, (ids,)),
        "chat_messages": lambda: db.execute(PRUNE_CHAT_MESSAGES, (ids,)),
        "mirrors": lambda: mirrors.prune(db, task_ids),
        "deliveries": lambda: outbox.prune(db, task_ids),
        "events": lambda: events.prune(db, task_ids),
        "tasks": lambda: intake.prune(db, task_ids),
    }
    return {kind: deletes[kind]() for kind in KINDS}


PRUNE_COUNTS = Sql(
    "SELECT (SELECT COUNT(*) FROM delivery_attempts WHERE task_id = ANY(?)) AS attempts,"
    " (SELECT COUNT(*) FROM chat_messages WHERE task_id = ANY(?)) AS chat_messages,"
    " (SELECT COUNT(*) FROM mirrors WHERE task_id = ANY(?)) AS mirrors,"
    " (SELECT COUNT(*) FROM deliveries WHERE task_id = ANY(?)) AS deliveries,"
    " (SELECT COUNT(*) FROM events WHERE task_id = ANY(?)) AS events"
)


def count(db: Db, task_ids: list[str]) -> dict[str, int]:
    """What `remove` would delete, counted, nothing deleted."""
    counts = db.one(PRUNE_COUNTS, (db.array(task_ids),) * 5) or {}
    removed = {kind: int(counts.get(kind) or 0) for kind in KINDS if kind != "tasks"}
    return {**removed, "tasks": len(task_ids)}


TAKE_MAINTENANCE_LEASE = Sql(
    "UPDATE maintenance_leases SET owner = ?, until = ?"
    " WHERE name = ? AND (owner IS NULL OR owner = ? OR until < ?)"
)


def take_lease(db: Db, owner: str, now: float, seconds: float) -> bool:
    """Hold the prune's lease for `seconds` more, unless another replica holds it."""
    taken = db.execute(TAKE_MAINTENANCE_LEASE, (owner, now + seconds, PRUNE_LEASE, owner, now))
    return taken == 1


STORE_SIZE = Sql(
    # The main file only: the WAL is emptied by the checkpoints.
    sqlite=(
        "SELECT c.page_count * s.page_size AS bytes,"
        " f.freelist_count * s.page_size AS free_bytes"
        " FROM pragma_page_count() c, pragma_freelist_count() f, pragma_page_size() s"
    ),
    # The relay's tables in its schema, with their indexes and TOAST; PostgreSQL keeps no
    # free-page count to report (autovacuum marks dead rows' space for reuse in place).
    postgres=(
        "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::BIGINT AS bytes,"
        " 0 AS free_bytes FROM pg_class c"
        " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'"
    ),
)


def size(db: Db) -> StoreSize:
    row = db.one(STORE_SIZE) or {}
    return StoreSize(int(row.get("bytes") or 0), int(row.get("free_bytes") or 0))
