"""The reads behind the console, the CLI and the live stream, on both backends: filtered
task lists, delivery attempts, the change feed, hourly activity and upstream progress."""

from __future__ import annotations

import time

import pytest

from receiver.deliveries import transactions as delivery
from receiver.kernel.store import Store
from receiver.kernel.store.db import new_id
from receiver.lifecycle.rules.polling import PollLease
from receiver.lifecycle.rules.records import NewTask, TaskFilter
from receiver.lifecycle.rules.task import Observation
from receiver.lifecycle.transactions import polls as poll_transactions
from receiver.lifecycle.transactions.observe import Audience, Report, observe
from receiver.operator import rows as reads
from receiver.outbox.rows import lists
from receiver.outbox.rules.delivery import Attempt
from receiver.stream import reads as stream_reads
from receiver.tasks import reads as task_reads
from tests import transactions
from tests.e2e.test_store import SUBSCRIPTIONS, claim_all, with_stores
from tests.harness import wait_for
from tests.testkit import listed
from tests.transactions import make_task

pytestmark = pytest.mark.every_backend


async def _task(store: Store, kind: str, prompt: str) -> str:
    field = "prompt" if kind == "video2video" else "promptText"
    task, _ = await make_task(store, NewTask(kind, {field: prompt}))
    return task.id


def test_tasks_are_listed_newest_first_by_filter_and_cursor(storage_url: str):
    async def scenario(stores: list[Store]) -> None:
        [store] = stores
        await store.migrate()
        cat = await _task(store, "video2video", "A Cat on the moon, 100%_sure")
        dog = await _task(store, "image_to_video", "a dog")
        fox = await _task(store, "video2video", "a fox")

        async def ids(**wanted: object) -> list[str]:
            return [t.id for t in await task_reads.task_list(store, TaskFilter(**wanted))]  # type: ignore[arg-type]

        assert await ids() == [fox, dog, cat]
        assert await ids(kind="video2video") == [fox, cat]
        assert await ids(text="cat ON") == [cat]
        assert await ids(text="100%_s") == [cat]  # LIKE's wildcards are matched as text
        assert await ids(text="100%_x") == []
        assert await ids(text="%") == [cat]
        assert await ids(limit=2) == [fox, dog]
        assert await ids(limit=2, before=dog) == [cat]
        assert await ids(since=time.time() + 60) == []
        [listed] = await task_reads.task_list(store, TaskFilter(text="fox"))
        assert listed.prompt == "a fox"

    with_stores(storage_url, 1, scenario)


def test_attempts_feed_the_timeline_the_stream_and_the_chart(storage_url: str):
    async def scenario(stores: list[Store]) -> None:
        [store] = stores
        await store.migrate()
        # The chart counts by the hour, and the attempts below span a second: begin in an
        # hour with at least ten seconds of it left, so that both fall into it.
        wait_for(lambda: time.time() % 3600 < 3590)
        start = time.time()
        task, _ = await make_task(store, NewTask("video2video", {"prompt": "p"}))
        obs = Observation(state="succeeded", upstream_task_id="up", outputs=("https://x/v",))
        await observe(
            store, task.id, Report("poll", "k", obs, "{}"), Audience(listed(SUBSCRIPTIONS))
        )
        [job, _other] = await claim_all(store, "me", 60, 10)
        now = time.time()
        failed = Attempt(
            new_id("att"), job.delivery.id, task.id, job.delivery.downstream, 1,
            now, now + 0.05, 50.0, 503, "HTTP 503: busy", "retry",
        )  # fmt: skip
        assert (await delivery.ended(store, failed, "me", now))[0]
        [again] = [
            j for j in await claim_all(store, "me", 60, 10) if j.delivery.id == job.delivery.id
        ]
        ok = Attempt(
            new_id("att"), job.delivery.id, task.id, job.delivery.downstream, 2,
            now + 1, now + 1.01, 10.0, 200, None, "succeeded",
        )  # fmt: skip
        assert (await delivery.ended(store, ok, "me", now))[0]
        # A stale owner's attempt is not kept, in the deliveries or the attempts.
        stale = Attempt(
            new_id("att"), again.delivery.id, task.id, again.delivery.downstream, 3,
            now, now, 1.0, 200, None, "succeeded",
        )  # fmt: skip
        assert not (await delivery.ended(store, stale, "me", now))[0]

        assert await store.read(lambda db: lists.task_attempts(db, task.id, 500)) == [
            failed,
            ok,
        ]
        changes = await stream_reads.changes(store, start - 1)
        assert [(c.kind, c.key) for c in changes] == [
            ("task", task.id),
            ("attempt", failed.id),
            ("attempt", ok.id),
        ]
        assert changes[1].data["status"] == 503
        assert changes[0].data["state"] == "succeeded"
        assert await stream_reads.changes(store, now + 0.5, task_id="other") == []
        assert [c.key for c in await stream_reads.changes(store, now + 0.5, task_id=task.id)] == [
            ok.id
        ]

        activity = await store.read(lambda db: reads.activity(db, start - 3600))
        hour = float(int(now // 3600) * 3600)
        assert (hour, "succeeded", 1) in activity.tasks
        [(h, downstream, mean, n)] = [r for r in activity.latency if r[0] <= now + 1]
        assert (downstream, n, mean) == (job.delivery.downstream, 2, 30.0)
        assert h in (hour, hour + 3600)

    with_stores(storage_url, 1, scenario)


def test_a_polls_progress_is_kept_until_the_task_ends(storage_url: str):
    async def scenario(stores: list[Store]) -> None:
        [store] = stores
        await store.migrate()
        task, _ = await make_task(store, NewTask("image_to_video", {"promptText": "p"}))
        await transactions.accept_for(store, task.id, "up", "{}", time.time() - 1, {})
        [job] = await poll_transactions.claim(store, PollLease("me", 60, 60, None), 10)
        running = Observation(state="running", upstream_status="RUNNING", progress="0.4")
        await poll_transactions.answered(
            store,
            poll_transactions.Answer(job.task_id, "me", running, "{}", time.time() - 1),
            poll_transactions.PollPolicy(listed({}), 120.0),
        )
        seen = await task_reads.task(store, task.id)
        assert seen is not None and seen.progress == 0.4
        assert [
            c.data["progress"] for c in await stream_reads.changes(store, seen.updated_at - 0.001)
        ] == [0.4]

    with_stores(storage_url, 1, scenario)
