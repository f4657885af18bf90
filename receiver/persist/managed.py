"""The downstreams made through the API: their rows, in the same table as every downstream's
health. The store keeps what it is given (settings as JSON, secrets already sealed); what
the settings may be, and the sealing, are decided above it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from receiver.errors import Conflict, NotFound
from receiver.persist.db import Db


@dataclass(frozen=True)
class ManagedRow:
    name: str
    spec: dict[str, Any]
    sealed_secret: str
    sealed_previous: str | None
    previous_until: float | None
    created_at: float
    changed_at: float


def _row(r: dict[str, Any]) -> ManagedRow:
    return ManagedRow(
        name=r["name"],
        spec=orjson.loads(r["spec"]),
        sealed_secret=r["sealed_secret"],
        sealed_previous=r["sealed_previous"],
        previous_until=r["previous_until"],
        created_at=r["created_at"],
        changed_at=r["changed_at"],
    )


def versions(db: Db) -> list[tuple[str, float]]:
    """Each managed downstream's name and when it last changed: what a replica compares to
    know whether to read them again."""
    return [(r["name"], r["changed_at"]) for r in db.all(db.sql.MANAGED_VERSIONS)]


def every(db: Db) -> list[ManagedRow]:
    return [_row(r) for r in db.all(db.sql.MANAGED_DOWNSTREAMS)]


def one(db: Db, name: str) -> ManagedRow:
    r = db.one(db.sql.MANAGED_DOWNSTREAM, (name,))
    if r is None:
        raise NotFound(f"no downstream named {name!r}")
    return _row(r)


def create(db: Db, name: str, spec: dict[str, Any], sealed_secret: str, now: float) -> ManagedRow:
    """A new one; a name taken already is a conflict. The health row of a name no longer in
    the config file is taken over, with its state."""
    taken = db.one(db.sql.MANAGED_DOWNSTREAM, (name,))
    if taken is not None:
        raise Conflict(f"a downstream named {name!r} exists already")
    db.execute(db.sql.REGISTER_DOWNSTREAM, (name,))
    db.execute(db.sql.CREATE_MANAGED, (orjson.dumps(spec).decode(), sealed_secret, now, now, name))
    return one(db, name)


def change(db: Db, name: str, spec: dict[str, Any], now: float) -> ManagedRow:
    if not db.execute(db.sql.CHANGE_MANAGED, (orjson.dumps(spec).decode(), now, name)):
        raise NotFound(f"no downstream named {name!r}")
    return one(db, name)


def rotate(
    db: Db, name: str, sealed_secret: str, sealed_previous: str | None, until: float, now: float
) -> None:
    """A new secret; the one it replaces keeps signing beside it until `until`."""
    changed = db.execute(db.sql.ROTATE_MANAGED, (sealed_secret, sealed_previous, until, now, name))
    if not changed:
        raise NotFound(f"no downstream named {name!r}")


def reseal(db: Db, name: str, sealed_secret: str, sealed_previous: str | None) -> None:
    """The same secrets under the newest key (changed_at stays: nothing a replica uses
    changed)."""
    db.execute(db.sql.RESEAL_MANAGED, (sealed_secret, sealed_previous, name))


def remove(db: Db, name: str, reason: str, now: float) -> int:
    """Gone: whatever it still had to deliver ends as a dead letter with `reason`; how many."""
    if not db.execute(db.sql.REMOVE_MANAGED, (name,)):
        raise NotFound(f"no downstream named {name!r}")
    return end_deliveries(db, name, reason, now)


def end_deliveries(db: Db, name: str, reason: str, now: float) -> int:
    """Every delivery of a downstream that still waits ends as a dead letter with `reason`
    (its lease is taken back, so an attempt in flight cannot put it back in the queue)."""
    return db.execute(db.sql.END_DOWNSTREAM_DELIVERIES, (reason, now, name))
