"""The store's concurrency contract, on both backends: migrations, leases, stale owners.

Every test opens several independent stores on one database, as replicas do, so on
PostgreSQL the claims really race each other on separate connections.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

import pytest

from receiver.deliveries import reads as delivery_reads
from receiver.deliveries import transactions as delivery
from receiver.kernel.store import Store, open_store
from receiver.kernel.store.db import Db, new_id
from receiver.kernel.store.migrate import migrations
from receiver.lifecycle.rows.tasks import tracking
from receiver.lifecycle.rules.polling import PollLease
from receiver.lifecycle.rules.records import NewTask, PollJob
from receiver.lifecycle.rules.task import Observation
from receiver.lifecycle.transactions import leases
from receiver.lifecycle.transactions import polls as poll_transactions
from receiver.lifecycle.transactions.observe import Audience, Report, observe
from receiver.outbox.rows.outbox import Handing
from receiver.outbox.rules.delivery import Attempt, DeliveryFilter, DeliveryJob, Subscription
from receiver.tasks import reads as task_reads
from tests import transactions
from tests.testkit import listed
from tests.transactions import make_task

pytestmark = pytest.mark.every_backend

T = TypeVar("T")
SUBSCRIPTIONS = {
    "a": Subscription(frozenset({"succeeded"})),
    "b": Subscription(frozenset({"succeeded"})),
}


async def claim_polls(store: Store, owner: str, seconds: float, limit: int) -> list[PollJob]:
    lease = PollLease(owner, seconds, 60.0, None)
    return await poll_transactions.claim(store, lease, limit)


def with_stores(url: str, count: int, fn: Callable[[list[Store]], Awaitable[T]]) -> T:
    """Run `fn` with `count` stores on `url`, each connected, all closed afterwards."""

    async def run() -> T:
        stores = [open_store(url) for _ in range(count)]
        try:
            await asyncio.gather(*(s.ready(schema=False) for s in stores))
            return await fn(stores)
        finally:
            await asyncio.gather(*(s.close() for s in stores))

    return asyncio.run(run())


async def seed_deliveries(store: Store, tasks: int) -> list[str]:
    """`tasks` succeeded tasks, each with one pending delivery per subscribed downstream."""

    async def one(i: int) -> list[str]:
        task, _ = await make_task(store, NewTask("video2video", {"i": i}))
        obs = Observation(state="succeeded", upstream_task_id=f"up-{i}", outputs=("https://x/v",))
        recorded = await observe(
            store, task.id, Report("callback", f"k{i}", obs, "{}"), Audience(listed(SUBSCRIPTIONS))
        )
        return recorded.delivery_ids

    return [d for ids in await asyncio.gather(*(one(i) for i in range(tasks))) for d in ids]


async def claim_all(store: Store, owner: str, lease: float, limit: int) -> list[DeliveryJob]:
    """Claims across every downstream, as the fan-out makes them (one per downstream)."""
    jobs: list[DeliveryJob] = []
    for downstream in SUBSCRIPTIONS:
        jobs += await delivery.claim(store, owner, lease, limit - len(jobs), downstream)
    return jobs


async def seed_polls(store: Store, tasks: int) -> list[str]:
    """`tasks` submitted tasks whose first poll is already due."""

    async def one(i: int) -> str:
        task, _ = await make_task(store, NewTask("image_to_video", {"i": i}))
        await transactions.accept_for(store, task.id, f"up-{i}", "{}", time.time() - 1, {})
        return task.id

    return list(await asyncio.gather(*(one(i) for i in range(tasks))))


ALL_MIGRATIONS = [m.version for m in migrations()]


async def reschedule(store: Store, task_id: str, owner: str, at: float) -> None:
    """A poll that got no answer, finished by `owner`: only the schedule changes."""
    await poll_transactions.answered(
        store,
        poll_transactions.Answer(task_id, owner, None, "", at),
        poll_transactions.PollPolicy(listed({}), 120.0),
    )


def test_migrations_run_twice_are_a_no_op(storage_url: str):
    async def scenario(stores: list[Store]) -> tuple[list[int], list[int]]:
        return await stores[0].migrate(), await stores[0].migrate()

    first, second = with_stores(storage_url, 1, scenario)
    assert first == ALL_MIGRATIONS and second == []
    # A new process on the migrated database finds nothing to do either.
    assert with_stores(storage_url, 1, lambda s: s[0].migrate()) == []


def test_concurrent_migrations_apply_once(storage_url: str):
    async def scenario(stores: list[Store]) -> list[list[int]]:
        return list(await asyncio.gather(*(s.migrate() for s in stores)))

    results = with_stores(storage_url, 4, scenario)
    assert sorted(results) == [[], [], [], ALL_MIGRATIONS]


def test_concurrent_delivery_claims_never_overlap(storage_url: str):
    async def scenario(stores: list[Store]) -> tuple[list[str], list[list[str]]]:
        await stores[0].migrate()
        ids = await seed_deliveries(stores[0], 30)

        async def drain(store: Store, owner: str) -> list[str]:
            got: list[str] = []
            while batch := await claim_all(store, owner, 60, 3):
                got += [job.delivery.id for job in batch]
            return got

        claimed = await asyncio.gather(*(drain(s, f"owner-{i}") for i, s in enumerate(stores)))
        return ids, list(claimed)

    ids, claimed = with_stores(storage_url, 4, scenario)
    every = [d for batch in claimed for d in batch]
    assert len(ids) == 60
    assert sorted(every) == sorted(ids), "a delivery was claimed twice or not at all"


def _attempt(delivery_id: str, outcome: str, status: int, error: str | None = None) -> Attempt:
    now = time.time()
    return Attempt(
        new_id("att"), delivery_id, "task", "hook", 1, now, now, 1.0, status, error, outcome
    )


def test_expired_delivery_lease_is_taken_over_and_stale_owner_ignored(storage_url: str):
    async def scenario(stores: list[Store]) -> None:
        a, b = stores
        await a.migrate()
        [first, second] = await seed_deliveries(a, 1)
        assert {j.delivery.id for j in await claim_all(a, "A", 0.3, 10)} == {first, second}
        assert await claim_all(b, "B", 60, 10) == []  # leased
        # A lease that runs out without a taker still lets its owner finish.
        await asyncio.sleep(0.4)
        kept, _ = await delivery.ended(a, _attempt(second, "succeeded", 200), "A", time.time())
        assert kept

        [taken] = await claim_all(b, "B", 60, 10)
        assert taken.delivery.id == first and taken.delivery.attempts == 0
        assert taken.payload["state"] == "succeeded"
        # A, back from a long send, must not overwrite what B now owns.
        kept, _ = await delivery.ended(a, _attempt(first, "succeeded", 200), "A", time.time())
        assert not kept
        [row] = await delivery_reads.deliveries(
            a, DeliveryFilter(downstream=taken.delivery.downstream)
        )
        assert (row.state, row.attempts) == ("pending", 0)
        kept, _ = await delivery.ended(
            b, _attempt(first, "dead", 410, "HTTP 410"), "B", time.time()
        )
        assert kept
        [row] = await delivery_reads.deliveries(
            a, DeliveryFilter(downstream=taken.delivery.downstream)
        )
        assert (row.state, row.attempts, row.last_status) == ("dead", 1, 410)

    with_stores(storage_url, 2, scenario)


def test_released_leases_are_claimable_at_once(storage_url: str):
    async def scenario(stores: list[Store]) -> None:
        a, b = stores
        await a.migrate()
        ids = await seed_deliveries(a, 1)
        [task_id] = await seed_polls(a, 1)
        assert len(await claim_all(a, "A", 60, 10)) == 2
        assert len(await claim_polls(a, "A", 60, 10)) == 1
        await leases.release(a, "A")  # graceful shutdown
        assert sorted(j.delivery.id for j in await claim_all(b, "B", 60, 10)) == sorted(ids)
        assert [j.task_id for j in await claim_polls(b, "B", 60, 10)] == [task_id]

    with_stores(storage_url, 2, scenario)


def test_concurrent_poll_claims_never_overlap(storage_url: str):
    async def scenario(stores: list[Store]) -> tuple[list[str], list[list[str]]]:
        await stores[0].migrate()
        ids = await seed_polls(stores[0], 40)

        async def drain(store: Store, owner: str) -> list[str]:
            got: list[str] = []
            while batch := await claim_polls(store, owner, 60, 3):
                got += [job.task_id for job in batch]
            return got

        claimed = await asyncio.gather(*(drain(s, f"owner-{i}") for i, s in enumerate(stores)))
        return ids, list(claimed)

    ids, claimed = with_stores(storage_url, 4, scenario)
    assert sorted(t for batch in claimed for t in batch) == sorted(ids)


def test_expired_poll_lease_is_taken_over_and_stale_owner_ignored(storage_url: str):
    async def scenario(stores: list[Store]) -> None:
        a, b = stores
        await a.migrate()
        [task_id] = await seed_polls(a, 1)
        [job] = await claim_polls(a, "A", 0.3, 10)
        assert (job.task_id, job.upstream_task_id, job.poll_attempts) == (task_id, "up-0", 0)
        assert await claim_polls(b, "B", 60, 10) == []
        await asyncio.sleep(0.4)
        [taken] = await claim_polls(b, "B", 60, 10)
        assert taken.task_id == task_id

        await reschedule(a, task_id, "A", time.time() + 100)  # stale: ignored
        task = await task_reads.task(a, task_id)
        assert task is not None and task.poll_attempts == 0
        assert task.next_poll_at is not None and task.next_poll_at <= time.time()
        later = time.time() + 100
        await reschedule(b, task_id, "B", later)
        task = await task_reads.task(a, task_id)
        assert task is not None and (task.poll_attempts, task.next_poll_at) == (1, later)
        assert await claim_polls(a, "A", 60, 10) == []  # not due any more

    with_stores(storage_url, 2, scenario)


def test_state_change_keeps_the_poll_lease(storage_url: str):
    """A poll that moves the task on (or a callback landing mid-poll) still reschedules it.

    Were the lease dropped by the state change, the poller's reschedule would be ignored
    and the task, still due, would be polled again at the next tick by any replica.
    """

    async def scenario(stores: list[Store]) -> None:
        [a] = stores
        await a.migrate()
        running, done = await seed_polls(a, 2)
        assert len(await claim_polls(a, "A", 60, 10)) == 2
        for task_id, state in ((running, "running"), (done, "succeeded")):
            obs = Observation(state=state)  # type: ignore[arg-type]
            recorded = await observe(
                a, task_id, Report("poll", f"poll:{state}", obs, "{}"), Audience(listed({}))
            )
            assert recorded.outcome == "applied"
        later = time.time() + 100
        await reschedule(a, running, "A", later)
        await reschedule(a, done, "A", later)
        moved, finished = await task_reads.task(a, running), await task_reads.task(a, done)
        assert moved is not None and (moved.poll_attempts, moved.next_poll_at) == (1, later)
        assert finished is not None and finished.next_poll_at is None
        assert await claim_polls(a, "B", 60, 10) == []

    with_stores(storage_url, 1, scenario)


def test_a_polls_transaction_leases_only_its_events_deliveries_free_to_go(storage_url: str):
    """The deliveries a poll hands to its own process's fan-out: those of the new event, to
    the downstreams given, and none behind an earlier pending event of its task there.
    Every other delivery stays for the claims; a handed one is no other worker's."""
    subscriptions = {
        "a": Subscription(frozenset({"running", "succeeded"})),
        "b": Subscription(frozenset({"succeeded"})),
        "c": Subscription(frozenset({"succeeded"})),
    }

    async def scenario(stores: list[Store]) -> None:
        a, b = stores
        await a.migrate()
        [task_id] = await seed_polls(a, 1)
        assert len(await claim_polls(a, "A", 60, 10)) == 1
        running = Observation(state="running", upstream_status="RUNNING")
        first = await poll_transactions.answered(
            a,
            poll_transactions.Answer(task_id, "A", running, "{}", time.time()),
            poll_transactions.PollPolicy(listed(subscriptions), 120.0),
        )
        assert first.handed == [] and first.recorded is not None
        [running_delivery] = first.recorded.delivery_ids
        done = Observation(state="succeeded", upstream_status="SUCCEEDED", outputs=("https://x/v",))
        result = await poll_transactions.answered(
            a,
            poll_transactions.Answer(task_id, "A", done, "{}", None),
            poll_transactions.PollPolicy(listed(subscriptions), 120.0),
            Handing("A", time.time() + 60, frozenset({"a", "b"})),
        )
        assert result.recorded is not None and len(result.recorded.delivery_ids) == 3
        # "a" waits behind its running event, "c" was not offered: only "b" is handed.
        assert [(j.delivery.downstream, j.delivery.event_id) for j in result.handed] == [
            ("b", result.recorded.event_id)
        ]
        assert result.handed[0].payload["state"] == "succeeded"
        claimed: dict[str, list[str]] = {}
        for name in subscriptions:  # each downstream with `ordering = "task"`
            jobs = await delivery.claim(b, "B", 60, 10, name, ordered=True)
            claimed[name] = [job.delivery.id for job in jobs]
        assert claimed["a"] == [running_delivery]
        assert claimed["b"] == []
        assert len(claimed["c"]) == 1

    with_stores(storage_url, 2, scenario)


def test_due_polls_go_nearest_their_end_first(storage_url: str):
    async def scenario(stores: list[Store]) -> tuple[list[str], list[str]]:
        [store] = stores
        await store.migrate()
        none, far, near, past, called = await seed_polls(store, 5)
        now = time.time()

        def shape(db: Db) -> None:
            due = now - 1  # when seed_polls made them due
            tracking.set_poll_timing(db, far, now - 5, due + 30)
            tracking.set_poll_timing(db, near, now - 5, due + 5)
            tracking.set_poll_timing(db, past, now - 50, due - 10)
            tracking.bring_poll_forward(db, called, None, due, now, True)

        await store.run(shape)
        order = [(await claim_polls(store, "A", 60, 1))[0].task_id for _ in range(5)]
        return order, [past, called, near, far, none]

    order, expected = with_stores(storage_url, 1, scenario)
    assert order == expected


def test_replicas_share_one_poll_budget_and_a_429_holds_them_all(storage_url: str):
    async def scenario(stores: list[Store]) -> tuple[int, int, int, int]:
        a, b = stores
        await a.migrate()
        await seed_polls(a, 30)
        budget = PollLease("A", 60, 60, 5.0)
        first = len(await poll_transactions.claim(a, budget, 50))
        # The other replica right after: the second's worth is spent.
        second = len(await poll_transactions.claim(b, replace(budget, owner="B"), 50))
        await poll_transactions.hold(b, 30.0)
        await asyncio.sleep(0.3)
        held_budgeted = len(await poll_transactions.claim(a, budget, 50))
        held_unbudgeted = len(await claim_polls(a, "A", 60, 50))
        return first, second, held_budgeted, held_unbudgeted

    assert with_stores(storage_url, 2, scenario) == (5, 0, 0, 0)
