"""Retention in the store, on both backends: what a prune removes and what it keeps, the
dry run that counts the same, and the lease that lets one replica prune at a time.

Tasks are aged by moving their end (and their dead letters' death) back in the database:
the rules compare those times with now, whatever wrote them.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import pytest
from prometheus_client import generate_latest

from receiver.deliveries import transactions as delivery
from receiver.downstreams import transactions as downstream_transactions
from receiver.kernel.observability.metrics import Metrics
from receiver.kernel.store import Store, open_store
from receiver.kernel.store.db import new_id
from receiver.lifecycle.rules.records import NewTask
from receiver.lifecycle.rules.task import Observation
from receiver.lifecycle.transactions import leases
from receiver.lifecycle.transactions import polls as poll_transactions
from receiver.lifecycle.transactions.observe import Audience, Report, observe
from receiver.media import transactions as copies
from receiver.outbox.rules.delivery import (
    DELIVERY_STATES,
    Attempt,
    DownstreamLabels,
    Subscription,
)
from receiver.retention import transactions as pruning
from receiver.retention import worker as retention
from receiver.retention.rules import DAY, START, RetentionPolicy, pages_to_free
from tests import transactions
from tests.conftest import BACKENDS
from tests.harness import PgSchema, metric
from tests.testkit import listed
from tests.transactions import make_task

pytestmark = pytest.mark.every_backend

T = TypeVar("T")
SUBS = {"hook": Subscription(frozenset({"succeeded", "failed"}))}
OWNER = "test-owner"
POLICY = RetentionPolicy(task_days=90, dead_letter_days=180, batch_size=2)
TABLES = {
    "tasks": ("tasks", "id"),
    "events": ("events", "task_id"),
    "deliveries": ("deliveries", "task_id"),
    "attempts": ("delivery_attempts", "task_id"),
    "mirrors": ("mirrors", "task_id"),
    "chat_messages": ("chat_messages", "task_id"),
}


def raw(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """A statement on the test's database, outside the store (written with `?`)."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return conn.execute(sql, params).fetchall()
    with psycopg.connect(url, autocommit=True) as pg:
        cursor = pg.execute(sql.replace("?", "%s").encode(), params)
        return cursor.fetchall() if cursor.description else []


def age(url: str, task_id: str, ended_days_ago: float, died_days_ago: float | None = None) -> None:
    """Move the task's end back; and its dead letters' death, when given."""
    raw(
        url,
        "UPDATE tasks SET terminal_at = ? WHERE id = ?",
        (time.time() - ended_days_ago * DAY, task_id),
    )
    if died_days_ago is not None:
        died = time.time() - died_days_ago * DAY
        raw(
            url,
            "UPDATE deliveries SET updated_at = ? WHERE task_id = ? AND state = 'dead'",
            (died, task_id),
        )


def rows_of(url: str, task_id: str) -> dict[str, int]:
    return {
        kind: raw(url, f"SELECT COUNT(*) FROM {table} WHERE {column} = ?", (task_id,))[0][0]
        for kind, (table, column) in TABLES.items()
    }


def with_store(url: str, fn: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        store = open_store(url)
        try:
            await store.migrate()
            return await fn(store)
        finally:
            await store.close()

    return asyncio.run(run())


async def submitted(store: Store, n: int) -> str:
    task, _ = await make_task(store, NewTask("video2video", {"prompt": f"t{n}"}, f"key-{n}"))
    await transactions.accept_for(store, task.id, f"up-{n}", "{}", time.time() + 3600, SUBS)
    return task.id


async def ended(store: Store, n: int, outcome: str | None, mirrored: bool = False) -> str:
    """A succeeded task whose delivery to `hook` had `outcome` (None: not tried yet);
    `mirrored`: its files were copied first, and it posted a chat message."""
    task_id = await submitted(store, n)
    answer = Observation(state="succeeded", upstream_task_id=f"up-{n}", outputs=("https://x/v",))
    if mirrored:
        await poll_transactions.answered(
            store,
            poll_transactions.Answer(task_id, "", answer, "{}", None),
            poll_transactions.PollPolicy(listed(SUBS), 120.0, True),
        )
        [job] = await copies.claim(store, OWNER, 60, 10)
        await copies.finish(store, job.event_id, OWNER, {"status": "mirrored", "files": []})
    else:
        await observe(
            store,
            task_id,
            Report("poll", "poll:done", answer, '{"raw": "body"}'),
            Audience(listed(SUBS)),
        )
    if outcome is not None:
        jobs = await delivery.claim(store, OWNER, 60, 50, "hook")
        [job] = [j for j in jobs if j.delivery.task_id == task_id]
        now = time.time()
        status = {"succeeded": 200, "dead": 410, "retry": 503}[outcome]
        attempt = Attempt(
            new_id("att"), job.delivery.id, task_id, "hook", 1, now, now, 1.0, status, None, outcome
        )
        posted = ("chat-1", False) if mirrored else None
        await delivery.ended(store, attempt, OWNER, now + 3600, None, posted)
        await leases.release(store, OWNER)
    return task_id


async def population(store: Store) -> dict[str, str]:
    await downstream_transactions.register(store, ["hook"])
    return {
        "old_delivered": await ended(store, 1, "succeeded", mirrored=True),
        "old_dead_long_ago": await ended(store, 2, "dead"),
        "old_dead_recently": await ended(store, 3, "dead"),
        "old_still_retrying": await ended(store, 4, "retry"),
        "old_never_tried": await ended(store, 5, None),
        "old_but_running": await submitted(store, 6),
        "recent": await ended(store, 7, "succeeded"),
        "old_delivered_too": await ended(store, 8, "succeeded"),
    }


def setup(url: str) -> dict[str, str]:
    tasks = with_store(url, population)
    for name, task_id in tasks.items():
        if name.startswith("old"):
            age(url, task_id, 400, died_days_ago=200 if name == "old_dead_long_ago" else 10)
    # A task that never ended keeps no end time, however old it is: its age is its creation.
    raw(
        url,
        "UPDATE tasks SET created_at = ?, updated_at = ? WHERE id = ?",
        (1.0, 1.0, tasks["old_but_running"]),
    )
    return tasks


def test_a_prune_removes_ended_tasks_with_all_they_hold_and_keeps_the_rest(storage_url: str):
    tasks = setup(storage_url)
    gone = {"old_delivered", "old_dead_long_ago", "old_delivered_too"}
    before = {name: rows_of(storage_url, task_id) for name, task_id in tasks.items()}
    assert before["old_delivered"] == {
        "tasks": 1,
        "events": 2,
        "deliveries": 1,
        "attempts": 1,
        "mirrors": 1,
        "chat_messages": 1,
    }

    preview = with_store(storage_url, lambda s: retention.preview(s, POLICY))
    removed = with_store(storage_url, lambda s: retention.prune(s, POLICY, OWNER))

    expected = {kind: sum(before[name][kind] for name in gone) for kind in TABLES}
    assert removed == expected
    assert preview == expected  # the dry run counted what the prune then removed
    for name, task_id in tasks.items():
        after = rows_of(storage_url, task_id)
        if name in gone:
            assert after == dict.fromkeys(TABLES, 0), name
        else:
            assert after == before[name], name
    # Its idempotency key went with it: the key can name a new task.
    keys = raw(storage_url, "SELECT idempotency_key FROM tasks WHERE idempotency_key IS NOT NULL")
    assert "key-1" not in {k for (k,) in keys} and "key-7" in {k for (k,) in keys}
    again = with_store(storage_url, lambda s: retention.preview(s, POLICY))
    assert again == dict.fromkeys(TABLES, 0)


def test_one_replica_prunes_at_a_time(storage_url: str):
    setup(storage_url)

    async def scenario(stores: list[Store]) -> None:
        first, second = stores
        step = await pruning.step(first, POLICY, START, "replica-a", 60)
        assert step is not None and step.batch.task_ids  # holds the lease mid-walk
        assert await pruning.step(second, POLICY, START, "replica-b", 60) is None
        assert await retention.prune(second, POLICY, "replica-b") is None
        # The holder goes on from where it was, then lets go at the end of its walk.
        rest = await retention.prune(first, POLICY, "replica-a")
        assert rest is not None
        assert await retention.prune(second, POLICY, "replica-b") == dict.fromkeys(TABLES, 0)

    async def run() -> None:
        stores = [open_store(storage_url), open_store(storage_url)]
        try:
            await stores[0].migrate()
            await scenario(stores)
        finally:
            await asyncio.gather(*(s.close() for s in stores))

    asyncio.run(run())


def test_a_dead_replicas_lease_runs_out(storage_url: str):
    setup(storage_url)

    async def scenario(store: Store) -> None:
        assert await pruning.step(store, POLICY, START, "dead-replica", 0.2) is not None
        assert await pruning.step(store, POLICY, START, "live-replica", 60) is None
        deadline = time.monotonic() + 10
        while await pruning.step(store, POLICY, START, "live-replica", 60) is None:
            assert time.monotonic() < deadline, "the lease never ran out"
            await asyncio.sleep(0.05)
        await pruning.release(store, "live-replica")

    with_store(storage_url, scenario)


@pytest.mark.postgres
@pytest.mark.skipif("postgres" not in BACKENDS, reason="RELAY_TEST_BACKENDS excludes postgres")
def test_postgres_tables_are_vacuumed_after_a_prune_when_autovacuum_is_off():
    schema = PgSchema()
    try:
        setup(schema.url)
        [(autovacuum,)] = raw(schema.url, "SHOW autovacuum")

        async def scenario(store: Store) -> int:
            removed = await retention.prune(store, POLICY, OWNER)
            assert removed is not None and removed["tasks"] == 3
            return await store.reclaim_space(removed["tasks"], pages_to_free)

        assert with_store(schema.url, scenario) == 0  # PostgreSQL gives no space back
        [(manual,)] = raw(
            schema.url,
            "SELECT vacuum_count FROM pg_stat_user_tables"
            " WHERE schemaname = ? AND relname = 'tasks'",
            (schema.name,),
        )
        # Off (as on the test server): the relay vacuums what it pruned; on: autovacuum does.
        assert manual == (1 if autovacuum == "off" else 0)
    finally:
        schema.drop()


def _undeletable(url: str, task_id: str) -> None:
    """A task the store refuses to delete, as a row an older release left half-written
    would be: a trigger aborts its delete, and only its."""
    if url.startswith("sqlite:///"):
        raw(
            url,
            f"CREATE TRIGGER stuck BEFORE DELETE ON tasks WHEN OLD.id = '{task_id}'"
            " BEGIN SELECT RAISE(ABORT, 'stuck'); END",
        )
        return
    raw(
        url,
        "CREATE FUNCTION stuck() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'stuck'; END $$",
    )
    raw(
        url,
        "CREATE TRIGGER stuck BEFORE DELETE ON tasks FOR EACH ROW"
        f" WHEN (OLD.id = '{task_id}') EXECUTE FUNCTION stuck()",
    )


def test_a_task_that_cannot_be_deleted_is_stepped_over_and_the_rest_go(storage_url: str):
    tasks = setup(storage_url)
    _undeletable(storage_url, tasks["old_delivered"])  # in the first batch
    metrics = Metrics(DELIVERY_STATES, DownstreamLabels())
    for _ in range(2):  # the next walk steps over it again, and still removes nothing else
        removed = with_store(storage_url, lambda s: retention.prune(s, POLICY, OWNER, metrics))
        assert removed is not None
    assert rows_of(storage_url, tasks["old_delivered"])["tasks"] == 1
    for name in ("old_dead_long_ago", "old_delivered_too"):
        assert rows_of(storage_url, tasks[name]) == dict.fromkeys(TABLES, 0), name
    text = generate_latest(metrics.registry).decode()
    assert metric(text, "relay_item_failures_total", worker="retention") == 2
