"""Each downstream's health in the store: disabled or not, failing since when, its breaker.

Shared by every replica: a downstream disabled by one (or by an operator) is disabled for
all, and while it is, its deliveries are `held` rather than attempted. Enabling it queues
again what was held, and what failed since a given time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from receiver.kernel.store.db import Db, Sql

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
        """Its fields, and whether it is disabled."""
        return {**asdict(self), "disabled": self.disabled_at is not None}


REGISTER_DOWNSTREAM = Sql("INSERT INTO downstreams (name) VALUES (?) ON CONFLICT (name) DO NOTHING")


def register(db: Db, names: list[str]) -> None:
    """A row for every configured downstream (existing rows keep their state)."""
    for name in names:
        db.execute(REGISTER_DOWNSTREAM, (name,))


DISABLED_DOWNSTREAMS = Sql("SELECT name FROM downstreams WHERE disabled_at IS NOT NULL")


def disabled_names(db: Db) -> set[str]:
    return {r["name"] for r in db.all(DISABLED_DOWNSTREAMS)}


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


def disable(db: Db, name: str, reason: str, now: float) -> bool:
    """Stop attempting a downstream (its waiting deliveries are held: the deliveries'
    rows'). False when it was disabled already (nothing written)."""
    return bool(db.execute(DISABLE_DOWNSTREAM, (now, reason, name)))


ENABLE_DOWNSTREAM = Sql(
    "UPDATE downstreams SET disabled_at = NULL, disabled_reason = NULL, failing_since = NULL"
    " WHERE name = ?"
)


def enable(db: Db, name: str) -> None:
    """Attempt a downstream again (what it held is the deliveries' rows' to recover)."""
    db.execute(ENABLE_DOWNSTREAM, (name,))
