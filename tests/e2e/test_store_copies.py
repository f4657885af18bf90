"""Copy jobs in the store, on both backends: their leases are given back, renewed and taken
over like the outbox's, and a job its deliveries can no longer wait for is given up.

As in test_store.py, each test opens independent stores on one database, as replicas do.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from receiver.deliveries import reads as delivery_reads
from receiver.kernel.store import Store
from receiver.lifecycle.rows.tasks import intake
from receiver.lifecycle.rules.polling import PollLease
from receiver.lifecycle.rules.records import NewTask
from receiver.lifecycle.rules.task import Observation
from receiver.lifecycle.transactions import leases
from receiver.lifecycle.transactions import polls as poll_transactions
from receiver.media import transactions as copies
from receiver.outbox.rules.delivery import DeliveryFilter, Subscription
from tests import transactions
from tests.e2e.test_store import with_stores
from tests.testkit import listed
from tests.transactions import make_task

pytestmark = pytest.mark.every_backend

SUBSCRIPTIONS = {"hook": Subscription(frozenset({"succeeded"}))}


async def seed_copies(store: Store, tasks: int, app: str | None = None) -> list[str]:
    """`tasks` renders confirmed by a poll, each with a copy to make (of `app`'s tasks);
    returns the task ids."""
    ids = []
    for i in range(tasks):
        task, _ = await make_task(store, NewTask("image_to_video", {"i": i}, owner_key=app))
        await transactions.accept_for(store, task.id, f"up-{i}", "{}", time.time() - 1, {})
        [due] = await poll_transactions.claim(store, PollLease("seeder", 60, 60, None), 1)
        done = Observation(
            state="succeeded", upstream_task_id=f"up-{i}", outputs=(f"https://cdn.test/{i}.mp4",)
        )
        await poll_transactions.answered(
            store,
            poll_transactions.Answer(due.task_id, "seeder", done, "{}", None),
            poll_transactions.PollPolicy(listed(SUBSCRIPTIONS), 120.0, True),
        )
        ids.append(task.id)
    return ids


async def delivery_states(store: Store, task_id: str) -> list[str]:
    return [
        d.state for d in await delivery_reads.deliveries(store, DeliveryFilter(task_id=task_id))
    ]


def test_copy_leases_are_given_back_by_their_owner_only(storage_url: str) -> None:
    async def scenario(stores: list[Store]) -> None:
        a, b = stores
        await a.migrate()
        ids = await seed_copies(a, 2)
        assert sorted(j.task_id for j in await copies.claim(a, "A", 60, 8)) == sorted(ids)
        assert await copies.claim(b, "B", 60, 8) == []
        await leases.release(b, "B")  # another process's stop: A's copies stay A's
        assert await copies.claim(b, "B", 60, 8) == []
        await leases.release(a, "A")  # A stops gracefully
        assert sorted(j.task_id for j in await copies.claim(b, "B", 60, 8)) == sorted(ids)

    with_stores(storage_url, 2, scenario)


def test_a_start_that_owns_the_store_takes_every_copy_lease_back(storage_url: str) -> None:
    async def scenario(stores: list[Store]) -> None:
        [a] = stores
        await a.migrate()
        [task_id] = await seed_copies(a, 1)
        assert len(await copies.claim(a, "killed", 3600, 8)) == 1
        await leases.release_all(a, delivering=True, polling=True)  # a delivery worker's start
        assert await copies.claim(a, "next", 60, 8) == []
        await leases.release_all(a, delivering=True, polling=True, mirroring=True)
        assert [j.task_id for j in await copies.claim(a, "next", 60, 8)] == [task_id]

    with_stores(storage_url, 1, scenario)


def test_a_renewed_copy_lease_outlives_its_first_term_and_a_dead_ones_does_not(
    storage_url: str,
) -> None:
    async def scenario(stores: list[Store]) -> None:
        a, b = stores
        await a.migrate()
        first, second = await seed_copies(a, 2)
        jobs = {j.task_id: j for j in await copies.claim(a, "A", 0.3, 8)}
        # A keeps copying the first, and has died for the second (nothing renews it).
        assert await copies.renew(a, "A", [jobs[first].event_id], 60) == 1
        assert await copies.renew(b, "B", [jobs[second].event_id], 60) == 0
        await asyncio.sleep(0.4)
        assert [j.task_id for j in await copies.claim(b, "B", 60, 8)] == [second]

    with_stores(storage_url, 2, scenario)


def test_copies_past_the_wait_are_given_up_unless_a_live_worker_holds_them(
    storage_url: str,
) -> None:
    async def scenario(stores: list[Store]) -> None:
        [a] = stores
        await a.migrate()
        held, idle = await seed_copies(a, 2)
        jobs = {j.task_id: j for j in await copies.claim(a, "A", 60, 8)}
        # `held` failed once and waits an hour for its next attempt; A is copying `idle`.
        retried = jobs[held]
        await copies.retry(a, retried.event_id, "A", time.time() + 3600, "HTTP 503", [])
        # Not past the wait yet: nothing is given up.
        assert await copies.give_up_overdue(a, 3600, lambda last: f"late ({last})", 100) == []
        [gone] = await copies.give_up_overdue(a, 0, lambda last: f"late ({last})", 100)
        assert (gone.task_id, gone.reason) == (held, "late (HTTP 503)")
        assert gone.delivery_ids and await delivery_states(a, held) == ["pending"]
        assert await delivery_states(a, idle) == ["mirroring"]  # A is copying it
        [event] = [
            e
            for e in (await a.read(lambda db: intake.task_history(db, held, 500)))[0]
            if e.state == "succeeded"
        ]
        bodies = await a.read(lambda db: intake.event_bodies(db, held, 500))
        assert bodies[event.id][0]["media"] == {"status": "failed", "reason": "late (HTTP 503)"}
        # Copying turned off: the held one goes too, and the job's owner can no longer end it.
        [off] = await copies.give_up_all(a, "media copies are turned off", 100)
        assert off.task_id == idle and await delivery_states(a, idle) == ["pending"]
        copied = {"status": "mirrored", "files": []}
        assert await copies.finish(a, jobs[idle].event_id, "A", copied) == []
        assert await copies.give_up_all(a, "media copies are turned off", 100) == []

    with_stores(storage_url, 1, scenario)


def test_a_claim_takes_the_apps_in_turn_and_none_past_its_share(storage_url: str) -> None:
    async def scenario(stores: list[Store]) -> None:
        [a] = stores
        await a.migrate()
        first = await seed_copies(a, 5, "app-a")  # the oldest: before, claimed first
        second = await seed_copies(a, 2, "app-b")
        jobs = await copies.claim(a, "A", 60, 4, per_app=2)
        # Two of each app, each app's oldest first, the apps in turn.
        assert [(j.app, j.task_id) for j in jobs] == [
            ("app-a", first[0]),
            ("app-b", second[0]),
            ("app-a", first[1]),
            ("app-b", second[1]),
        ]
        # An app holding its share gets no more, whatever is free.
        assert await copies.claim(a, "A", 60, 8, per_app=2, held={"app-a": 2}) == []
        more = await copies.claim(a, "A", 60, 8, per_app=2, held={"app-a": 1})
        assert [(j.app, j.task_id) for j in more] == [("app-a", first[2])]

    with_stores(storage_url, 1, scenario)
