"""Each downstream's health in the store: disabled or not, failing since when, its breaker.

Shared by every replica: a downstream disabled by one (or by an operator) is disabled for
all, and while it is, its deliveries are `held` rather than attempted. Enabling it queues
again what was held, and what failed since a given time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from receiver.domain.routing import Subscriptions, notified_of
from receiver.persist.db import Db
from receiver.persist.records import new_id

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


def note_attempt(
    db: Db,
    name: str,
    ok: bool,
    now: float,
    disable_after: float,
    subscriptions: Subscriptions,
) -> bool:
    """Keep when a downstream started failing; past `disable_after` of failing without a
    break, disable it (True: this call did, and told the others)."""
    if ok:
        db.execute(db.sql.DOWNSTREAM_OK, (name,))
        return False
    db.execute(db.sql.DOWNSTREAM_FAILING, (now, name))
    row = db.one(db.sql.DOWNSTREAM_FAILURE, (name,))
    if row is None or row["disabled_at"] is not None or now - row["failing_since"] < disable_after:
        return False
    hours = (now - row["failing_since"]) / 3600
    reason = f"every attempt failed for {hours:.1f} h"
    return disable(db, name, reason, now, subscriptions, failing_since=row["failing_since"])


def disable(
    db: Db,
    name: str,
    reason: str,
    now: float,
    subscriptions: Subscriptions,
    failing_since: float | None = None,
) -> bool:
    """Stop attempting a downstream: its waiting deliveries are held, and the downstreams
    that subscribe to `downstream.disabled` are told. False when it was disabled already."""
    changed = db.execute(db.sql.DISABLE_DOWNSTREAM, (now, reason, name))
    if not changed:
        return False
    db.execute(db.sql.HOLD_DELIVERIES, (now, name))
    _notify(db, name, reason, now, failing_since, subscriptions)
    return True


def _notify(
    db: Db,
    name: str,
    reason: str,
    now: float,
    failing_since: float | None,
    subscriptions: Subscriptions,
) -> None:
    event_id = new_id("evt")
    document = {
        "event_id": event_id,
        "type": DISABLED,
        "task_id": RELAY_TASK,
        "kind": "relay",
        "state": DISABLED,
        "downstream": name,
        "reason": reason,
        "failing_since": failing_since,
        "occurred_at": now,
    }
    db.execute(
        db.sql.INSERT_NOTICE,
        (
            event_id,
            RELAY_TASK,
            f"disabled:{name}:{now}",
            DISABLED,
            now,
            orjson.dumps(document).decode(),
        ),
    )
    for other in notified_of(DISABLED, name, subscriptions):
        db.execute(
            db.sql.INSERT_DELIVERY,
            (new_id("msg"), event_id, RELAY_TASK, other, "pending", now, now, now),
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
