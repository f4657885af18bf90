"""What operators read of the store's recent work: gauges, a task's delivery attempts, the
live stream's changes and the hourly activity chart."""

from __future__ import annotations

from dataclasses import dataclass

from receiver.kernel.store.db import Db, Sql
from receiver.lifecycle.rows.tasks import submits
from receiver.outbox.rows import outbox
from receiver.retention import rows as retention


@dataclass(frozen=True)
class Activity:
    """The last hours at a glance, by hour (each hour's start, epoch seconds)."""

    tasks: list[tuple[float, str, int]]  # (hour, final state, tasks)
    latency: list[tuple[float, str, float, int]]  # (hour, downstream, mean ms, attempts)


TASKS_BY_STATE = Sql("SELECT state, COUNT(*) AS n FROM tasks WHERE kind <> 'relay' GROUP BY state")

DELIVERIES_BY_STATE = Sql("SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state")

CREDITS = Sql("SELECT SUM(point) AS charged, SUM(refund) AS refunded FROM tasks")


def counts(db: Db) -> dict[str, float]:
    """Gauges for operators: tasks by state, deliveries by state, credits."""
    out: dict[str, float] = {}
    for row in db.all(TASKS_BY_STATE):
        out[f"tasks_{row['state']}"] = row["n"]
    for row in db.all(DELIVERIES_BY_STATE):
        out[f"deliveries_{row['state']}"] = row["n"]
    credits = db.one(CREDITS)
    for kind in ("charged", "refunded"):
        out[f"credits_{kind}"] = (credits or {}).get(kind) or 0
    for name in outbox.disabled_downstreams(db):
        out[f"disabled:{name}"] = 1
    out.update(submits.counts(db))

    # What the store takes on disk (receiver/retention/rows.py).
    size = retention.size(db)
    out["store_bytes"], out["store_free_bytes"] = size.bytes, size.free_bytes
    return out


TASKS_ENDED_BY_HOUR = Sql(
    # CAST truncates (times are positive): the start of the hour.
    sqlite=(
        "SELECT CAST(terminal_at / 3600 AS INTEGER) * 3600 AS hour, state, COUNT(*) AS n"
        " FROM tasks WHERE terminal_at >= ? AND kind <> 'relay' GROUP BY 1, 2 ORDER BY 1, 2"
    ),
    # FLOOR: the start of the hour (CAST to an integer would round to the nearest).
    postgres=(
        "SELECT FLOOR(terminal_at / 3600) * 3600 AS hour, state, COUNT(*) AS n FROM tasks"
        " WHERE terminal_at >= ? AND kind <> 'relay' GROUP BY 1, 2 ORDER BY 1, 2"
    ),
)

LATENCY_BY_HOUR = Sql(
    sqlite=(
        "SELECT CAST(finished_at / 3600 AS INTEGER) * 3600 AS hour, downstream,"
        " AVG(latency_ms) AS ms, COUNT(*) AS n FROM delivery_attempts WHERE finished_at >= ?"
        " GROUP BY 1, 2 ORDER BY 1, 2"
    ),
    postgres=(
        "SELECT FLOOR(finished_at / 3600) * 3600 AS hour, downstream,"
        " AVG(latency_ms) AS ms, COUNT(*) AS n FROM delivery_attempts WHERE finished_at >= ?"
        " GROUP BY 1, 2 ORDER BY 1, 2"
    ),
)


def activity(db: Db, since: float) -> Activity:
    """Tasks ended, by hour and final state; delivery latency, by hour and downstream."""
    tasks = db.all(TASKS_ENDED_BY_HOUR, (since,))
    latency = db.all(LATENCY_BY_HOUR, (since,))
    return Activity(
        [(float(r["hour"]), r["state"], int(r["n"])) for r in tasks],
        [(float(r["hour"]), r["downstream"], float(r["ms"]), int(r["n"])) for r in latency],
    )
