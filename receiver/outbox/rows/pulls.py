"""A pull downstream's events, read from the outbox (outbox.py writes it): its settled
deliveries after a position, oldest first, with their event documents; and how many it
holds. Only those of the downstream of that name as it is now: one removed and made again
under the same name starts with none of the old one's (its deliveries were recorded before
the new one was made)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from receiver.kernel.store.db import Db, Sql


@dataclass(frozen=True)
class Pulled:
    """One settled delivery of a pull downstream: its position (when it was settled, its
    id) and the event document it carries."""

    at: float
    id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Readable:
    """What a read found: when the downstream was made (0: the config file's, or none), the
    mark a cursor carries, and its events."""

    made: float
    rows: list[Pulled]


MADE_AT = Sql("SELECT created_at FROM downstreams WHERE name = ?")


def made_at(db: Db, downstream: str) -> float:
    """When the downstream of this name was made through the API; 0 for the config file's."""
    row = db.one(MADE_AT, (downstream,))
    return float(row["created_at"] or 0.0) if row else 0.0


# The (state, downstream) index narrows to the downstream's settled rows.
PULLED = Sql(
    "SELECT d.id, d.delivered_at, e.payload FROM deliveries d JOIN events e ON e.id = d.event_id"
    " WHERE d.state = 'succeeded' AND d.downstream = ? AND d.created_at >= ?"
    " AND d.delivered_at <= ? AND (d.delivered_at > ? OR (d.delivered_at = ? AND d.id > ?))"
    " ORDER BY d.delivered_at, d.id LIMIT ?"
)


def pulled(db: Db, downstream: str, after: tuple[float, str], until: float, limit: int) -> Readable:
    """The downstream's deliveries settled after the position `after` and by `until`,
    oldest first."""
    at, key = after
    made = made_at(db, downstream)
    rows = db.all(PULLED, (downstream, made, until, at, at, key, limit))
    return Readable(
        made, [Pulled(r["delivered_at"], r["id"], orjson.loads(r["payload"])) for r in rows]
    )


COUNT_PULLED = Sql(
    "SELECT COUNT(*) AS n FROM deliveries WHERE state = 'succeeded' AND downstream = ?"
    " AND created_at >= ?"
)


def count_pulled(db: Db, downstream: str) -> int:
    """How many of its settled deliveries the outbox still holds (retention prunes them)."""
    row = db.one(COUNT_PULLED, (downstream, made_at(db, downstream)))
    return int(row["n"]) if row else 0
