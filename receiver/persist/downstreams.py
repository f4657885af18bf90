"""Each downstream's health in the store: disabled or not, failing since when, its breaker.

Shared by every replica: a downstream disabled by one (or by an operator) is disabled for
all, and while it is, its deliveries are `held` rather than attempted. Enabling it queues
again what was held, and what failed since a given time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from receiver.persist.db import Db, Sql

RELAY_TASK = "tsk_relay"  # the relay's own notices are events of this task
DISABLED = "downstream.disabled"


@dataclass(frozen=True)
class DownstreamHealth:
    name: str
    disabled_at: float | None
    disabled_reason: str | None
    failing_since: float | None
    breaker: str
    breaker_changed_at: float | None
    deliveries: dict[str, int]

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "disabled": self.disabled_at is not None,
            "disabled_at": self.disabled_at,
            "disabled_reason": self.disabled_reason,
            "failing_since": self.failing_since,
            "breaker": self.breaker,
            "breaker_changed_at": self.breaker_changed_at,
            "deliveries": self.deliveries,
        }


REGISTER_DOWNSTREAM = Sql("INSERT INTO downstreams (name) VALUES (?) ON CONFLICT (name) DO NOTHING")


def register(db: Db, names: list[str]) -> None:
    """A row for every configured downstream (existing rows keep their state)."""
    for name in names:
        db.execute(REGISTER_DOWNSTREAM, (name,))


DISABLED_DOWNSTREAMS = Sql("SELECT name FROM downstreams WHERE disabled_at IS NOT NULL")


def disabled_names(db: Db) -> set[str]:
    return {r["name"] for r in db.all(DISABLED_DOWNSTREAMS)}


HOLD_UNOPENED = Sql(
    "UPDATE deliveries SET state = 'held', last_error = ?, lease_owner = NULL,"
    " lease_until = NULL, updated_at = ? WHERE downstream = ANY(?) AND state = 'pending'"
)


def hold_unopened(db: Db, names: list[str], reason: str, now: float) -> int:
    """The pending rows of downstreams that cannot be used wait, held, with the reason."""
    return db.execute(HOLD_UNOPENED, (reason, now, db.array(names)))


RELEASE_UNOPENED = Sql(
    "UPDATE deliveries SET state = 'pending', last_error = NULL, next_attempt_at = ?,"
    " updated_at = ? WHERE downstream = ANY(?) AND state = 'held' AND last_error = ?"
    " AND downstream NOT IN (SELECT name FROM downstreams WHERE disabled_at IS NOT NULL)"
)


def release_unopened(db: Db, names: list[str], reason: str, now: float) -> int:
    """The rows those downstreams held for `reason` go out, now that they can be used."""
    return db.execute(RELEASE_UNOPENED, (now, now, db.array(names), reason))


DOWNSTREAMS = Sql("SELECT * FROM downstreams")

DELIVERIES_BY_DOWNSTREAM = Sql(
    "SELECT downstream, state, COUNT(*) AS n FROM deliveries GROUP BY downstream, state"
)


def health(db: Db, names: list[str]) -> list[DownstreamHealth]:
    rows = {r["name"]: r for r in db.all(DOWNSTREAMS)}
    counts: dict[str, dict[str, int]] = {}
    for r in db.all(DELIVERIES_BY_DOWNSTREAM):
        counts.setdefault(r["downstream"], {})[r["state"]] = r["n"]
    out = []
    for name in names:
        row = rows.get(name, {})
        out.append(
            DownstreamHealth(
                name=name,
                disabled_at=row.get("disabled_at"),
                disabled_reason=row.get("disabled_reason"),
                failing_since=row.get("failing_since"),
                breaker=row.get("breaker") or "closed",
                breaker_changed_at=row.get("breaker_changed_at"),
                deliveries=counts.get(name, {}),
            )
        )
    return out


DOWNSTREAM_OK = Sql("UPDATE downstreams SET failing_since = NULL WHERE name = ?")


def mark_ok(db: Db, name: str) -> None:
    db.execute(DOWNSTREAM_OK, (name,))


DOWNSTREAM_FAILING = Sql(
    "UPDATE downstreams SET failing_since = COALESCE(failing_since, ?) WHERE name = ?"
)

DOWNSTREAM_FAILURE = Sql("SELECT failing_since, disabled_at FROM downstreams WHERE name = ?")


def mark_failing(db: Db, name: str, now: float) -> tuple[float, bool] | None:
    """Keep when the downstream started failing: (since when, whether it is disabled)."""
    db.execute(DOWNSTREAM_FAILING, (now, name))
    row = db.one(DOWNSTREAM_FAILURE, (name,))
    return (row["failing_since"], row["disabled_at"] is not None) if row else None


DISABLE_DOWNSTREAM = Sql(
    "UPDATE downstreams SET disabled_at = ?, disabled_reason = ? WHERE name = ?"
    " AND disabled_at IS NULL"
)

HOLD_DELIVERIES = Sql(
    "UPDATE deliveries SET state = 'held', lease_owner = NULL, lease_until = NULL,"
    " updated_at = ? WHERE downstream = ? AND state = 'pending'"
)


def disable(db: Db, name: str, reason: str, now: float) -> bool:
    """Stop attempting a downstream: its waiting deliveries are held. False when it was
    disabled already (nothing written)."""
    if not db.execute(DISABLE_DOWNSTREAM, (now, reason, name)):
        return False
    db.execute(HOLD_DELIVERIES, (now, name))
    return True


INSERT_NOTICE = Sql(
    "INSERT INTO events (id, task_id, source, dedupe_key, state, applied, received_at, raw,"
    " payload) VALUES (?, ?, 'relay', ?, ?, 1, ?, '', ?)"
)


def insert_notice(db: Db, document: dict[str, Any], dedupe_key: str) -> None:
    """One of the relay's own notices (its `event_id`, `state`, `occurred_at`), an event of
    the relay's task."""
    db.execute(
        INSERT_NOTICE,
        (
            document["event_id"],
            RELAY_TASK,
            dedupe_key,
            document["state"],
            document["occurred_at"],
            orjson.dumps(document).decode(),
        ),
    )


ENABLE_DOWNSTREAM = Sql(
    "UPDATE downstreams SET disabled_at = NULL, disabled_reason = NULL, failing_since = NULL"
    " WHERE name = ?"
)

REQUEUE_RECOVERED = Sql(
    "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, lease_owner = NULL,"
    " lease_until = NULL, updated_at = ? WHERE downstream = ?"
    " AND ((state = 'held' AND created_at >= ?) OR (state = 'dead' AND updated_at >= ?))"
)

DEAD_LETTER_HELD = Sql(
    "UPDATE deliveries SET state = 'dead', updated_at = ?,"
    " last_error = 'held while the downstream was disabled; not recovered'"
    " WHERE downstream = ? AND state = 'held'"
)


def enable(db: Db, name: str, recover_since: float | None, now: float) -> int:
    """Attempt a downstream again. What it held since `recover_since` (None: all of it), and
    what went to dead-letter since then, is queued again; what it held from before is
    dead-lettered with the reason. Returns how many deliveries were queued."""
    db.execute(ENABLE_DOWNSTREAM, (name,))
    since = recover_since if recover_since is not None else 0.0
    queued = db.execute(REQUEUE_RECOVERED, (now, now, name, since, since))
    db.execute(DEAD_LETTER_HELD, (now, name))
    return queued


NOTE_BREAKER = Sql("UPDATE downstreams SET breaker = ?, breaker_changed_at = ? WHERE name = ?")


def note_breaker(db: Db, name: str, state: str, now: float) -> None:
    db.execute(NOTE_BREAKER, (state, now, name))
