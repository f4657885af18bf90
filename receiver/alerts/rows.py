"""The alert_marks table, and an app's alert downstream on its row: written here only."""

from __future__ import annotations

from typing import Any

from receiver.alerts.rules import Mark
from receiver.kernel.store.db import Db, Sql

NEW_MARK = Sql("INSERT INTO alert_marks (downstream) VALUES (?) ON CONFLICT DO NOTHING")

# A write that changes nothing: the row stays locked (PostgreSQL) until the transaction ends,
# so a second replica deciding on the same downstream reads what the first wrote.
LOCK_MARK = Sql(
    "UPDATE alert_marks SET open_kind = open_kind WHERE downstream = ?"
    " RETURNING open_kind, failing_at, disabled_at, sent_at, held_kind, held_reason"
)

SET_MARK = Sql(
    "UPDATE alert_marks SET open_kind = ?, failing_at = ?, disabled_at = ?, sent_at = ?,"
    " held_kind = ?, held_reason = ? WHERE downstream = ?"
)


def _mark(row: Any) -> Mark:
    return Mark(
        row["open_kind"],
        row["failing_at"],
        row["disabled_at"],
        row["sent_at"],
        row["held_kind"],
        row["held_reason"],
    )


def locked(db: Db, downstream: str) -> Mark:
    """The downstream's mark, its row locked until the transaction ends."""
    db.execute(NEW_MARK, (downstream,))
    # Every row fetched (one), so that SQLite's statement is done before the commit.
    return _mark(db.all(LOCK_MARK, (downstream,))[0])


def keep(db: Db, downstream: str, mark: Mark) -> None:
    m = mark
    values = (m.open_kind, m.failing_at, m.disabled_at, m.sent_at, m.held_kind, m.held_reason)
    db.execute(SET_MARK, (*values, downstream))


# What a process needs to see of the others' alerts: a problem told and not yet answered,
# or a transition held back for its window's end.
LIVE_MARKS = Sql(
    "SELECT downstream, open_kind, failing_at, disabled_at, sent_at, held_kind, held_reason"
    " FROM alert_marks WHERE open_kind IS NOT NULL OR held_kind IS NOT NULL"
)


def live_marks(db: Db) -> dict[str, Mark]:
    return {r["downstream"]: _mark(r) for r in db.all(LIVE_MARKS)}


APP_ALERTS = Sql("SELECT name, alert_downstream FROM apps WHERE id = ? AND deleted_at IS NULL")


def app_choice(db: Db, app_id: str) -> tuple[str, str | None] | None:
    """A live app's name and the downstream of its own it named for alerts."""
    row = db.one(APP_ALERTS, (app_id,))
    return None if row is None else (row["name"], row["alert_downstream"])


SET_APP_ALERTS = Sql("UPDATE apps SET alert_downstream = ? WHERE id = ? AND deleted_at IS NULL")


def set_app_choice(db: Db, app_id: str, name: str | None) -> None:
    db.execute(SET_APP_ALERTS, (name, app_id))


FAILURE = Sql("SELECT failing_since, disabled_reason FROM downstreams WHERE name = ?")


def failure(db: Db, downstream: str) -> tuple[float | None, str | None]:
    """Since when every attempt failed, and why it is disabled (if it is)."""
    row = db.one(FAILURE, (downstream,))
    return (None, None) if row is None else (row["failing_since"], row["disabled_reason"])
