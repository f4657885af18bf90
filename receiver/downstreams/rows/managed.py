"""The downstreams made through the API: their rows, in the same table as every downstream's
health. The store keeps what it is given (settings as JSON, secrets already sealed); what
the settings may be, and the sealing, are decided above it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from receiver.kernel.errors import Conflict, NotFound
from receiver.kernel.store.db import Db


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


@dataclass(frozen=True)
class Changes:
    """What changed among the managed downstreams after a change number, in order."""

    last: int  # the newest change number: read from there next time
    rows: list[ManagedRow]  # made or changed since, as they are now
    removed: list[tuple[int, str]]  # (change number, name) removed since


def last_change(db: Db) -> int:
    row = db.one(db.sql.LAST_DOWNSTREAM_CHANGE)
    return int(row["seq"]) if row else 0


def changes_since(db: Db, seq: int) -> Changes:
    """The managed downstreams made, changed or removed after change `seq`; every one with
    `seq` -1 (a first look, which has nothing to remove)."""
    last = last_change(db)
    if last == seq:
        return Changes(last, [], [])
    rows = [_row(r) for r in db.all(db.sql.MANAGED_CHANGED_SINCE, (seq,))]
    removed = db.all(db.sql.MANAGED_REMOVED_SINCE, (seq,)) if seq >= 0 else []
    return Changes(last, rows, [(int(r["change_seq"]), r["name"]) for r in removed])


def _changed(db: Db, name: str, removed: bool = False) -> None:
    """The change takes the next number (the counter stays locked until it commits)."""
    db.execute(db.sql.NEXT_DOWNSTREAM_CHANGE)
    seq = last_change(db)
    if removed:
        db.execute(db.sql.NOTE_MANAGED_REMOVAL, (seq, name))
    else:
        db.execute(db.sql.MARK_MANAGED_CHANGE, (seq, name))


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
    _changed(db, name)
    return one(db, name)


def change(db: Db, name: str, spec: dict[str, Any], now: float) -> ManagedRow:
    if not db.execute(db.sql.CHANGE_MANAGED, (orjson.dumps(spec).decode(), now, name)):
        raise NotFound(f"no downstream named {name!r}")
    _changed(db, name)
    return one(db, name)


def rotate(
    db: Db, name: str, sealed_secret: str, sealed_previous: str | None, until: float, now: float
) -> None:
    """A new secret; the one it replaces keeps signing beside it until `until`."""
    changed = db.execute(db.sql.ROTATE_MANAGED, (sealed_secret, sealed_previous, until, now, name))
    if not changed:
        raise NotFound(f"no downstream named {name!r}")
    _changed(db, name)


def reseal(db: Db, name: str, sealed_secret: str, sealed_previous: str | None) -> None:
    """The same secrets under the newest key (changed_at stays: nothing a replica uses
    changed)."""
    db.execute(db.sql.RESEAL_MANAGED, (sealed_secret, sealed_previous, name))


def remove(db: Db, name: str, reason: str, now: float) -> int:
    """Gone: whatever it still had to deliver ends as a dead letter with `reason`; how many."""
    if not db.execute(db.sql.REMOVE_MANAGED, (name,)):
        raise NotFound(f"no downstream named {name!r}")
    _changed(db, name, removed=True)
    return end_deliveries(db, name, reason, now)


def end_deliveries(db: Db, name: str, reason: str, now: float) -> int:
    """Every delivery of a downstream that still waits ends as a dead letter with `reason`
    (its lease is taken back, so an attempt in flight cannot put it back in the queue)."""
    return db.execute(db.sql.END_DOWNSTREAM_DELIVERIES, (reason, now, name))
