"""One app's event, measured beside N apps with 10 downstreams each made through the API:
the transaction that records a task's new state and writes its deliveries (`succeeded`, to
the app's 10 downstreams), and the one that binds a sent task (`queued`, which none takes).

    python bench/eventbench.py --store sqlite:////tmp/events.db --apps 10000
    python bench/eventbench.py --store postgresql://127.0.0.1:5432/test --apps 10000

The downstreams are written straight to the store (sealed as the API seals them, each row
as the API leaves it), in one transaction, and the directory reads them once; then RUNS
tasks of one app are each bound and ended, each transaction timed alone. Prints one JSON
line: wall times (median, 90th percentile) and the process's CPU time (median), in ms; the
CPU time is what other work on the machine changes least.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, cast

import structlog

from receiver.config import Config
from receiver.downstreams.directory import Directory
from receiver.kernel.observability.metrics import Metrics
from receiver.kernel.secrets.sealing import Sealer, seal_url
from receiver.kernel.store import Store, open_store
from receiver.kernel.store.db import Db, Sql
from receiver.lifecycle.rows.tasks.intake import create_task
from receiver.lifecycle.rules.records import NewTask
from receiver.lifecycle.rules.task import Observation
from receiver.lifecycle.transactions.observe import Audience, Report, observed
from receiver.outbox.rules.delivery import DELIVERY_STATES, DownstreamLabels, owned_name
from receiver.tasks.transactions import Accepted, bind

SECRET = "bench-signing-secret-" + "9" * 32
PER_APP = 10
RUNS = 200
EVENTS = ["succeeded", "failed"]


def app_id(i: int) -> str:
    return f"app_{i:024x}"


# The rows as `downstreams.create` leaves them, many a round trip (a create's five statements
# a row would take PostgreSQL half an hour for 100,000).
FILL = Sql(
    "INSERT INTO downstreams (name, app_id, spec, sealed_secret, created_at, changed_at,"
    " change_seq) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _fill(db: Db, sealer: Sealer, apps: int) -> None:
    """`apps` apps' downstreams, as the API keeps them; the secret sealed once a name."""
    now, rows = time.time(), list[tuple[object, ...]]()
    for i in range(apps):
        for j in range(PER_APP):
            name = owned_name(app_id(i), f"hook-{j}")
            spec = {"url": f"https://hooks.example.com/{i}/{j}", "events": EVENTS}
            spec_text = json.dumps(seal_url(sealer, spec, name))
            sealed = sealer.seal("whsec_" + "b" * 32, name)
            rows.append((name, app_id(i), spec_text, sealed, now, now, len(rows) + 1))
    for start in range(0, len(rows), 1000):
        db.execute_many(FILL, rows[start : start + 1000])


async def _timed(store: Store, write: Callable[[Db], object]) -> tuple[float, float]:
    """The transaction's wall time and the process's CPU time meanwhile, in ms."""
    started, cpu = time.perf_counter(), time.process_time()
    await store.run(write)
    return (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000


def _bind(task_id: str, n: int, audience: Audience) -> Callable[[Db], object]:
    accepted = Accepted(f"up-{n}", "{}", time.time() + 600)
    return lambda db: bind(db, task_id, accepted, audience, "submit", time.time())


def _end(task_id: str, audience: Audience, made: list[int]) -> Callable[[Db], object]:
    report = Report("poll", "poll:succeeded", Observation(state="succeeded"), "{}")

    def write(db: Db) -> None:
        made.append(len(observed(db, task_id, report, audience, time.time()).delivery_ids))

    return write


def _summary(times: list[tuple[float, float]]) -> dict[str, float]:
    walls, cpus = sorted(t[0] for t in times), sorted(t[1] for t in times)
    return {
        "median_ms": round(statistics.median(walls), 2),
        "p90_ms": round(walls[int(len(walls) * 0.9)], 2),
        "cpu_median_ms": round(statistics.median(cpus), 2),
    }


async def run(url: str, apps: int) -> dict[str, Any]:
    store = open_store(url, 120.0)  # the directory reads every row at once
    await store.migrate()
    sealer = Sealer([SECRET])
    filled = time.perf_counter()
    await store.run(lambda db: _fill(db, sealer, apps), timeout=3600)
    filled = time.perf_counter() - filled
    log = structlog.wrap_logger(logging.getLogger("bench"))
    config = cast(Config, SimpleNamespace(downstreams=[], public_url="https://relay.test"))
    metrics = Metrics(DELIVERY_STATES, DownstreamLabels())
    directory = Directory(config, store, sealer, log, metrics.directory_rows, follows=False)
    await directory.refresh()
    audience = Audience(directory.subscribers)
    owner = app_id(apps // 2)
    tasks = await store.run(
        lambda db: [
            create_task(db, NewTask("generate", {"n": n}, owner_key=owner), time.time())[0].id
            for n in range(RUNS)
        ]
    )
    bound, ended, made = [], [], list[int]()
    for n, task_id in enumerate(tasks):
        bound.append(await _timed(store, _bind(task_id, n, audience)))
        ended.append(await _timed(store, _end(task_id, audience, made)))
    await store.close()
    return {
        "apps": apps,
        "downstreams": apps * PER_APP,
        "fill_s": round(filled, 1),
        "deliveries_per_event": sum(made) / RUNS,
        "event": _summary(ended),
        "submit_bind": _summary(bound),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="a store URL; it should be empty")
    parser.add_argument("--apps", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.store, args.apps))))


if __name__ == "__main__":
    main()
