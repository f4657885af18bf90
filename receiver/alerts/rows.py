"""The alert_marks table, the digests (alert_digests, alert_digest_entries), and an app's
alert downstream on its row: written here only."""

from __future__ import annotations

from typing import Any

from receiver.alerts.rules import Entry, Mark
from receiver.kernel.store.db import Db, Sql, record

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
    return record(Mark, row)


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


NEW_DIGEST = Sql("INSERT INTO alert_digests (app_id, kind) VALUES (?, ?) ON CONFLICT DO NOTHING")
# Its row locked before an entry joins: a digest going out (which locks it first) takes
# every entry that joined before it, and one joining after waits, then starts the next.
WAIT_DIGEST = Sql(
    "UPDATE alert_digests SET waiting_since = COALESCE(waiting_since, ?)"
    " WHERE app_id = ? AND kind = ?"
)
JOIN_DIGEST = Sql(
    "INSERT INTO alert_digest_entries (app_id, kind, downstream, reason, failing_since,"
    " added_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (app_id, kind, downstream) DO UPDATE"
    " SET reason = excluded.reason, failing_since = excluded.failing_since"
)


def join_digest(db: Db, app_id: str, kind: str, entry: Entry, now: float) -> None:
    """`entry` named in the next digest of `kind` about the app (`""`: the relay's own)."""
    db.execute(NEW_DIGEST, (app_id, kind))
    db.execute(WAIT_DIGEST, (now, app_id, kind))
    values = (entry.downstream, entry.reason, entry.failing_since, now)
    db.execute(JOIN_DIGEST, (app_id, kind, *values))


WAITING_DIGESTS = Sql(
    "SELECT app_id, kind, waiting_since, sent_at FROM alert_digests WHERE waiting_since IS NOT NULL"
)


def waiting_digests(db: Db) -> list[tuple[str, str, float, float | None]]:
    """Each digest with entries waiting: its app, kind, since when, and the last one sent."""
    rows = db.all(WAITING_DIGESTS)
    return [(r["app_id"], r["kind"], r["waiting_since"], r["sent_at"]) for r in rows]


LOCK_DIGEST = Sql(
    "UPDATE alert_digests SET waiting_since = waiting_since WHERE app_id = ? AND kind = ?"
    " RETURNING waiting_since, sent_at"
)


def locked_digest(db: Db, app_id: str, kind: str) -> tuple[float | None, float | None]:
    """Since when the digest waits (None: nothing waits) and when the last one went out,
    its row locked until the transaction ends."""
    found = db.all(LOCK_DIGEST, (app_id, kind))
    return (None, None) if not found else (found[0]["waiting_since"], found[0]["sent_at"])


DIGEST_ENTRIES = Sql(
    "SELECT downstream, reason, failing_since FROM alert_digest_entries"
    " WHERE app_id = ? AND kind = ? ORDER BY added_at, downstream"
)
DROP_ENTRIES = Sql("DELETE FROM alert_digest_entries WHERE app_id = ? AND kind = ?")
DIGEST_SENT = Sql(
    "UPDATE alert_digests SET waiting_since = NULL, sent_at = COALESCE(?, sent_at)"
    " WHERE app_id = ? AND kind = ?"
)


def digest_entries(db: Db, app_id: str, kind: str) -> list[Entry]:
    """The entries waiting in the digest, in the order they joined."""
    rows = db.all(DIGEST_ENTRIES, (app_id, kind))
    return [Entry(r["downstream"], r["reason"], r["failing_since"]) for r in rows]


def take_digest(db: Db, app_id: str, kind: str) -> list[Entry]:
    """The entries waiting in the digest (its row locked), taken out of it."""
    entries = digest_entries(db, app_id, kind)
    db.execute(DROP_ENTRIES, (app_id, kind))
    return entries


def digest_sent(db: Db, app_id: str, kind: str, now: float | None) -> None:
    """Nothing waits in it any more; `now`: it went out then (None: it went nowhere)."""
    db.execute(DIGEST_SENT, (now, app_id, kind))
