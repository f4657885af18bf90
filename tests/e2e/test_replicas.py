"""Several `receiver serve` processes on one PostgreSQL schema, as a scaled-out deployment.

The replicas share the store and the downstreams; CometAPI calls each one back on the URL
it put in the task. Checked here: migrations applied once by replicas starting together,
each event delivered once per downstream, each task polled by one replica at a time, and
nothing lost when a replica is killed while it holds delivery leases.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from receiver.kernel.store.migrate import migrations
from tests.conftest import BACKENDS, MakeRelay, webhook
from tests.harness import (
    PgSchema,
    Relay,
    Simulator,
    Sink,
    image_to_video,
    settled,
    video2video,
    wait_for,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif("postgres" not in BACKENDS, reason="RELAY_TEST_BACKENDS excludes postgres"),
]


@pytest.fixture
def storage_url() -> Iterator[str]:
    """Postgres only, whatever RELAY_TEST_BACKENDS says: SQLite is one process by design."""
    schema = PgSchema()
    yield schema.url
    schema.drop()


def start_together(relays: list[Relay]) -> None:
    errors: list[BaseException] = []

    def start(relay: Relay) -> None:
        try:
            relay.start()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(r,)) for r in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def submit_round_robin(relays: list[Relay], per_replica: int) -> dict[str, list[str]]:
    """Half reverse-format (called back), half official (polled); task ids by replica URL."""
    submitted: dict[str, list[str]] = {r.url: [] for r in relays}
    for i in range(per_replica * len(relays)):
        relay = relays[i % len(relays)]
        body = video2video(prompt=f"clip {i}") if i % 2 else image_to_video(promptText=f"{i}")
        response = relay.submit(**body)
        assert response.status_code == 202, response.text
        submitted[relay.url].append(response.json()["id"])
    return submitted


def all_settled(relay: Relay, task_ids: list[str]) -> list[dict[str, Any]]:
    def check() -> list[dict[str, Any]] | None:
        tasks = [relay.task(t) for t in task_ids]
        return tasks if all(settled(t) for t in tasks) else None

    return wait_for(check, interval=0.2)


def test_replicas_share_the_work_without_duplicates(
    make_relay: MakeRelay, sim: Simulator, make_sink: Any
):
    hooks, audit = make_sink(), make_sink()
    downstreams = [webhook(hooks, "hook"), webhook(audit, "audit")]
    relays = [make_relay(downstreams, start=False) for _ in range(3)]
    start_together(relays)  # all three migrate the fresh schema at once
    started = [
        line for r in relays for line in r.log_lines() if line.get("event") == "service.started"
    ]
    every = str([m.version for m in migrations()])
    assert sorted(str(line["migrations"]) for line in started) == [every, "[]", "[]"]

    submitted = submit_round_robin(relays, per_replica=8)
    task_ids = [t for ids in submitted.values() for t in ids]
    tasks = all_settled(relays[0], task_ids)
    assert {t["state"] for t in tasks} == {"succeeded"}

    # Each callback went to, and was accepted by, the replica whose submit worker sent the
    # task (any replica's: the queue is shared), and only there.
    upstream = {t["upstream_task_id"]: t["id"] for t in tasks}
    callbacks = sim.callbacks()
    assert len(callbacks) == len(task_ids) // 2
    sent_by = {}
    for callback in callbacks:
        assert callback["status"] == 200
        [sender] = [r for r in relays if callback["url"].startswith(r.url + "/callbacks/")]
        sent_by[upstream[callback["task_id"]]] = sender.url
    for relay in relays:
        accepted = {
            line["task_id"]
            for line in relay.log_lines()
            if line.get("event") == "callback.received"
        }
        assert accepted == {t for t, url in sent_by.items() if url == relay.url}
    assert set(sent_by) == {t["id"] for t in tasks if t["kind"] == "video2video"}

    # Each event reached each downstream exactly once, under its delivery id.
    for name, sink in (("hook", hooks), ("audit", audit)):
        ids = Counter(h["headers"]["webhook-id"] for h in sink.received())
        expected = {d["id"] for t in tasks for d in t["deliveries"] if d["downstream"] == name}
        assert set(ids) == expected and len(expected) == len(task_ids)
        assert max(ids.values()) == 1, f"duplicate deliveries to {name}"
    assert all(d["attempts"] == 1 for t in tasks for d in t["deliveries"])

    # One replica at a time per task: every upstream poll was made under the lease whose
    # holder then rescheduled the task. A second, concurrent poller's reschedule would be
    # refused, leaving CometAPI's count above the store's.
    polled = [t for t in tasks if t["kind"] == "image_to_video"]

    def polls_accounted() -> bool:
        counts = {s["task_id"]: s["polls"] for s in sim.tasks()}
        return all(
            relays[0].task(t["id"])["poll_attempts"] == counts[t["upstream_task_id"]]
            for t in polled
        )

    wait_for(polls_accounted, interval=0.2)
    # And the replicas did poll a task more than once (on a loaded machine a task may end
    # before its second poll is due, so not every one).
    polls = [s["polls"] for s in sim.tasks() if s["kind"] == "image_to_video"]
    assert min(polls) >= 1 and sum(polls) > len(polls)


def victim_leases(schema_url: str, owner: str) -> dict[str, float]:
    with psycopg.connect(schema_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id, lease_until FROM deliveries WHERE lease_owner = %s", (owner,)
        ).fetchall()
    return {row[0]: row[1] for row in rows}


def test_killed_replica_loses_nothing(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, storage_url: str
):
    sink.mode(delay_seconds=1.0)  # slow downstream: deliveries stay leased for a while
    relays = [
        make_relay(
            [webhook(sink)],
            delivery={"lease_seconds": 2.5},
            polling={"lease_seconds": 2.5, "callback_grace_seconds": 1.5},
            upstream={"timeout_seconds": 2},  # below the short poll lease
        )
        for _ in range(3)
    ]
    victim, survivors = relays[0], relays[1:]
    assert victim.proc is not None
    owner = next(
        line["owner"] for line in victim.log_lines() if line.get("event") == "service.started"
    )
    first_wave = [t for ids in submit_round_robin(relays, per_replica=4).values() for t in ids]

    def until_the_victim_holds_a_lease(batch: list[str]) -> None:
        """Until the victim holds a lease: on a busy machine the other replicas can take a
        whole batch's work, so more tasks go in while it has none (a delivery to the slow
        sink keeps its lease a second, far longer than a step of the test)."""
        for _ in range(6):
            wait_for(
                lambda batch=batch: (
                    victim_leases(storage_url, owner) or all(settled(victim.task(t)) for t in batch)
                ),
                interval=0.02,
            )
            if victim_leases(storage_url, owner):
                return
            batch = [t for ids in submit_round_robin(relays, per_replica=2).values() for t in ids]
            first_wave.extend(batch)
        raise AssertionError("the victim never held a lease")

    until_the_victim_holds_a_lease(first_wave)

    # Reverse-format tasks whose callbacks will find the victim gone: those its own submit
    # worker sent, not yet called back. Woken by its submits, it is mostly first to them,
    # but another replica's tick can come sooner on a busy machine, and a slow one may see a
    # task end first: a few more rounds until it has one.
    orphans: list[str] = []
    for _ in range(5):
        late = [victim.submit(**video2video()).json()["id"] for _ in range(3)]
        sent = [victim.wait_task(t, lambda t: t["submission"] == "sent") for t in late]
        first_wave += late
        by_victim = {
            s["task_id"] for s in sim.tasks() if (s["callback_url"] or "").startswith(victim.url)
        }
        called = {c["task_id"] for c in sim.callbacks()}
        orphans += [t["id"] for t in sent if t["upstream_task_id"] in by_victim - called]
        if orphans:
            break
    assert orphans
    until_the_victim_holds_a_lease([])  # it dies holding one
    victim.kill()
    killed_at = time.time()
    held = victim_leases(storage_url, owner)  # what the victim died holding
    assert held

    tasks = all_settled(survivors[0], first_wave)
    assert {t["state"] for t in tasks} == {"succeeded"}
    deliveries = {d["id"]: d for t in tasks for d in t["deliveries"]}
    assert all(d["state"] == "succeeded" for d in deliveries.values())

    hits = sink.received()
    assert {h["headers"]["webhook-id"] for h in hits} == set(deliveries)
    # Sent twice only what the victim held; the second send came after its lease ran out.
    repeats = {k for k, n in Counter(h["headers"]["webhook-id"] for h in hits).items() if n > 1}
    assert repeats <= set(held)
    for delivery_id, lease_until in held.items():
        last = max(h["received_at"] for h in hits if h["headers"]["webhook-id"] == delivery_id)
        assert last >= lease_until > killed_at

    # The orphans' callbacks were refused by the dead replica and recovered by polling. One
    # may still have come before the kill on a slow machine, answered by the victim alive.
    orphan_upstream = {t["upstream_task_id"] for t in tasks if t["id"] in orphans}
    calls = [c for c in sim.callbacks() if c["task_id"] in orphan_upstream]
    assert all(c["status"] is None for c in calls if c["time"] >= killed_at), calls
    assert any(c["status"] is None for c in calls), calls
    for task in tasks:
        if task["id"] in orphans:
            # Polls alone (the one that saw it running, when one did, then its end).
            sources = [e["source"] for e in task["events"] if e["applied"]]
            assert sources[0] == "submit" and set(sources[1:]) == {"poll"}, sources


def test_a_key_revoked_on_one_replica_is_refused_by_the_other(make_relay: MakeRelay):
    first, second = (make_relay(start=False) for _ in range(2))
    start_together([first, second])
    made = first.api.post("/v1/keys", json={"name": "app", "scopes": ["tasks:read"]})
    key = made.json()["key"]
    headers = {"Authorization": f"Bearer {key}"}
    # Both replicas know the key (each remembers it a moment), then it is revoked on one.
    for relay in (first, second):
        assert relay.anon.get("/v1/tasks", headers=headers).status_code == 200
    assert first.api.delete("/v1/keys/app").status_code == 200
    assert first.anon.get("/v1/tasks", headers=headers).status_code == 401
    wait_for(lambda: second.anon.get("/v1/tasks", headers=headers).status_code == 401)
