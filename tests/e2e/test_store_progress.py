"""Progress events in the store, on both backends: a newer figure takes the place of one
not yet sent, a figure being sent is left alone, and the end supersedes what still waits
so that it is claimed at once."""

from __future__ import annotations

import asyncio
import time

import pytest

from receiver.deliveries import transactions as delivery
from receiver.kernel.store import Store, open_store
from receiver.kernel.store.db import new_id
from receiver.lifecycle.rules.records import NewTask
from receiver.lifecycle.rules.task import Observation
from receiver.lifecycle.transactions import polls as poll_transactions
from receiver.outbox.rows import lists
from receiver.outbox.rules.delivery import Attempt, Delivery, DeliveryFilter, Subscription
from tests import transactions
from tests.testkit import listed
from tests.transactions import make_task

pytestmark = pytest.mark.every_backend

SUBSCRIPTIONS = {
    "hook": Subscription(frozenset({"progress", "succeeded"})),
    "chat": Subscription(frozenset({"running", "succeeded"})),  # running is not progress
}
EVERY_FIGURE = poll_transactions.PollPolicy(listed(SUBSCRIPTIONS), 120.0, progress_every=0.0)


async def report(store: Store, task_id: str, obs: Observation) -> None:
    await poll_transactions.answered(
        store, poll_transactions.Answer(task_id, "A", obs, "{}", time.time()), EVERY_FIGURE
    )


def running(figure: str) -> Observation:
    return Observation(state="running", upstream_status="RUNNING", progress=figure)


async def rows(store: Store, task_id: str, downstream: str) -> list[Delivery]:
    wanted = DeliveryFilter(downstream=downstream, task_id=task_id)
    found = await store.read(lambda db: lists.list_deliveries(db, wanted))
    return sorted(found, key=lambda d: d.created_at)


async def scenario(store: Store) -> None:
    await store.migrate()
    task, _ = await make_task(store, NewTask("image_to_video", {"promptText": "p"}))
    await transactions.accept_for(store, task.id, "up-1", "{}", time.time() - 1, {})

    await report(store, task.id, running("0.2"))
    await report(store, task.id, running("0.4"))
    # One row waits at the hook, carrying the newer figure; the chat downstream, which
    # asked for `running`, got that state once and no progress.
    [waiting] = await rows(store, task.id, "hook")
    [job] = await delivery.claim(store, "F", 60, 10, "hook", ordered=True)
    assert job.delivery.id == waiting.id
    assert (job.payload["type"], job.payload["progress"]) == ("task.progress", 0.4)
    assert len(await rows(store, task.id, "chat")) == 1

    # Leased (being sent): a newer figure makes a row of its own; a lower one makes none.
    await report(store, task.id, running("0.6"))
    await report(store, task.id, running("0.5"))
    first, second = await rows(store, task.id, "hook")
    assert first.id == waiting.id and second.state == "pending"
    # The send fails, and its retry is an hour away: the newer row waits behind it.
    now = time.time()
    failed = Attempt(
        new_id("att"), first.id, task.id, "hook", 1, now, now, 1.0, 503, "busy", "retry"
    )
    assert (await delivery.ended(store, failed, "F", now + 3600))[0]
    assert await delivery.claim(store, "F", 60, 10, "hook", ordered=True) == []

    done = Observation(state="succeeded", upstream_status="SUCCEEDED", outputs=("https://x/v",))
    await report(store, task.id, done)
    states = [d.state for d in await rows(store, task.id, "hook")]
    assert states == ["superseded", "superseded", "pending"]
    [end] = await delivery.claim(store, "F", 60, 10, "hook")
    assert end.payload["state"] == "succeeded" and "type" not in end.payload


def test_progress_rows_coalesce_and_the_end_supersedes_them(storage_url: str) -> None:
    async def run() -> None:
        store = open_store(storage_url)
        try:
            await scenario(store)
        finally:
            await store.close()

    asyncio.run(run())
