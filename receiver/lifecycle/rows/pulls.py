"""A pull downstream's events, read from the outbox (lifecycle/rows/deliveries.py writes
it): its settled deliveries after a position, oldest first, with their event documents;
and how many it holds."""

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


# The (state, downstream) index narrows to the downstream's settled rows.
PULLED = Sql(
    "SELECT d.id, d.delivered_at, e.payload FROM deliveries d JOIN events e ON e.id = d.event_id"
    " WHERE d.state = 'succeeded' AND d.downstream = ? AND d.delivered_at <= ?"
    " AND (d.delivered_at > ? OR (d.delivered_at = ? AND d.id > ?))"
    " ORDER BY d.delivered_at, d.id LIMIT ?"
)


def pulled(
    db: Db, downstream: str, after: tuple[float, str], until: float, limit: int
) -> list[Pulled]:
    """The downstream's deliveries settled after the position `after` and by `until`,
    oldest first."""
    at, key = after
    rows = db.all(PULLED, (downstream, until, at, at, key, limit))
    return [Pulled(r["delivered_at"], r["id"], orjson.loads(r["payload"])) for r in rows]


COUNT_PULLED = Sql(
    "SELECT COUNT(*) AS n FROM deliveries WHERE state = 'succeeded' AND downstream = ?"
)


def count_pulled(db: Db, downstream: str) -> int:
    """How many of its settled deliveries the outbox still holds (retention prunes them)."""
    row = db.one(COUNT_PULLED, (downstream,))
    return int(row["n"]) if row else 0
