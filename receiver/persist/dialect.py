"""What a backend gives the shared queries: one open transaction in its own SQL dialect.

The queries in `receiver.persist.queries` are written once, in the SQL both backends accept,
with `?` placeholders. What the two dialects do differently (how a parameter is written,
how a row is locked, how due rows are claimed past other replicas) lives in each backend's
module, behind these methods.
"""

from __future__ import annotations

from typing import Any, Protocol

Row = dict[str, Any]

# A downstream's due deliveries; each backend adds how it claims them past other replicas.
DUE_DELIVERIES = (
    "SELECT id FROM deliveries d{index} WHERE downstream = ? AND state = 'pending'"
    " AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)"
    " AND NOT EXISTS (SELECT 1 FROM deliveries e{task_index} WHERE e.task_id = d.task_id"
    " AND e.downstream = d.downstream AND e.state = 'pending' AND e.id < d.id)"
    " ORDER BY next_attempt_at LIMIT ?"
)

# Tasks due for a poll; each backend adds how it claims them past other replicas.
DUE_POLLS = (
    "SELECT id, kind, upstream_task_id, created_at, poll_attempts FROM tasks"
    " WHERE next_poll_at IS NOT NULL AND next_poll_at <= ? AND upstream_task_id IS NOT NULL"
    " AND (poll_lease_until IS NULL OR poll_lease_until < ?) ORDER BY next_poll_at LIMIT ?"
)


class Db(Protocol):
    """One transaction on one connection."""

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int: ...
    def one(self, sql: str, params: tuple[Any, ...] = ()) -> Row | None: ...
    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]: ...
    def script(self, sql: str) -> None: ...

    def lock_migrations(self) -> None:
        """Hold off any other process migrating this database until the transaction ends."""

    def locked_task(self, task_id: str) -> Row | None:
        """The task's row, locked against other writers until the transaction ends."""

    def due_delivery_ids(self, now: float, limit: int, downstream: str) -> list[str]:
        """A downstream's pending deliveries due by `now` and not leased, oldest due first,
        none behind an earlier pending one of the same task, skipping rows another
        transaction is claiming."""

    def hour(self, column: str) -> str:
        """SQL for the start of the hour (epoch seconds) that an epoch-seconds column is in."""

    def due_polls(self, now: float, limit: int) -> list[Row]:
        """Tasks due for a poll by `now` and not leased (id, kind, upstream_task_id,
        created_at, poll_attempts), skipping rows another transaction is claiming."""
