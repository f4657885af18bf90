"""Each downstream's health in the store: disabled or not, failing since when, its breaker.

Shared by every replica: a downstream disabled by one (or by an operator) is disabled for
all, and while it is, its deliveries are `held` rather than attempted. Enabling it queues
again what was held, and what failed since a given time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from receiver.kernel.store.db import Db

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


def register(db: Db, names: list[str]) -> None:
    """A row for every configured downstream (existing rows keep their state)."""
    for name in names:
        db.execute(db.sql.REGISTER_DOWNSTREAM, (name,))


def disabled_names(db: Db) -> set[str]:
    return {r["name"] for r in db.all(db.sql.DISABLED_DOWNSTREAMS)}


def hold_unopened(db: Db, names: list[str], reason: str, now: float) -> int:
    """The pending rows of downstreams that cannot be used wait, held, with the reason."""
    return db.execute(db.sql.HOLD_UNOPENED, (reason, now, db.array(names)))


def release_unopened(db: Db, names: list[str], reason: str, now: float) -> int:
    """The rows those downstreams held for `reason` go out, now that they can be used."""
    return db.execute(db.sql.RELEASE_UNOPENED, (now, now, db.array(names), reason))


def health(db: Db, names: list[str]) -> list[DownstreamHealth]:
    rows = {r["name"]: r for r in db.all(db.sql.DOWNSTREAMS)}
    counts: dict[str, dict[str, int]] = {}
    for r in db.all(db.sql.DELIVERIES_BY_DOWNSTREAM):
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


def mark_ok(db: Db, name: str) -> None:
    db.execute(db.sql.DOWNSTREAM_OK, (name,))


def mark_failing(db: Db, name: str, now: float) -> tuple[float, bool] | None:
    """Keep when the downstream started failing: (since when, whether it is disabled)."""
    db.execute(db.sql.DOWNSTREAM_FAILING, (now, name))
    row = db.one(db.sql.DOWNSTREAM_FAILURE, (name,))
    return (row["failing_since"], row["disabled_at"] is not None) if row else None


def disable(db: Db, name: str, reason: str, now: float) -> bool:
    """Stop attempting a downstream: its waiting deliveries are held. False when it was
    disabled already (nothing written)."""
    if not db.execute(db.sql.DISABLE_DOWNSTREAM, (now, reason, name)):
        return False
    db.execute(db.sql.HOLD_DELIVERIES, (now, name))
    return True


def insert_notice(db: Db, document: dict[str, Any], dedupe_key: str) -> None:
    """One of the relay's own notices (its `event_id`, `state`, `occurred_at`), an event of
    the relay's task."""
    db.execute(
        db.sql.INSERT_NOTICE,
        (
            document["event_id"],
            RELAY_TASK,
            dedupe_key,
            document["state"],
            document["occurred_at"],
            orjson.dumps(document).decode(),
        ),
    )


def enable(db: Db, name: str, recover_since: float | None, now: float) -> int:
    """Attempt a downstream again. What it held since `recover_since` (None: all of it), and
    what went to dead-letter since then, is queued again; what it held from before is
    dead-lettered with the reason. Returns how many deliveries were queued."""
    db.execute(db.sql.ENABLE_DOWNSTREAM, (name,))
    since = recover_since if recover_since is not None else 0.0
    queued = db.execute(db.sql.REQUEUE_RECOVERED, (now, now, name, since, since))
    db.execute(db.sql.DEAD_LETTER_HELD, (now, name))
    return queued


def note_breaker(db: Db, name: str, state: str, now: float) -> None:
    db.execute(db.sql.NOTE_BREAKER, (state, now, name))
