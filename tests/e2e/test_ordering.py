"""Ordered delivery (`ordering = "task"`): an endpoint that refuses the first attempt of each
task's first event still gets each task's events in the order they were made, each only
once the one before it is settled; one task waiting holds up no other. On both backends,
and with two replicas sharing PostgreSQL. A downstream without the setting gets a task's
later events while its first waits for its retry."""

from __future__ import annotations

import itertools
import re
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from receiver.kernel.store.migrate import migrate
from receiver.kernel.store.postgres.store import PostgresDb
from receiver.outbox.rows.outbox import DUE_DELIVERIES
from tests.conftest import MakeRelay, webhook
from tests.harness import Relay, Sink, image_to_video, terminal, wait_for

pytestmark = pytest.mark.every_backend

EVENTS = ["queued", "running", "succeeded"]
# A refused attempt waits an hour for its retry: only a replay sends it again in a test.
DELIVERY = {"retry_schedule": [3600]}
# Long enough running for a poll to see it: two events or more per task.
TIMING = "queue=0.3 run=1.5"


def downstreams(sink: Sink) -> list[dict[str, Any]]:
    return [
        webhook(sink, "ordered", events=EVENTS, ordering="task"),
        webhook(sink, "plain", events=EVENTS),
    ]


def rows(task: dict[str, Any], downstream: str) -> list[dict[str, Any]]:
    """The task's deliveries to `downstream` in the order their events were made."""
    mine = [d for d in task["deliveries"] if d["downstream"] == downstream]
    return sorted(mine, key=lambda d: (d["created_at"], d["id"]))


def first_refused(task: dict[str, Any]) -> bool:
    """Ended, every event made, and each downstream's first delivery refused once."""
    ordered, plain = rows(task, "ordered"), rows(task, "plain")
    return (
        terminal(task)
        and len(ordered) == len(plain) >= 2
        and all(r[0]["attempts"] == 1 and r[0]["state"] == "pending" for r in (ordered, plain))
    )


def sent_in_order(sink: Sink, task: dict[str, Any]) -> None:
    """Every request for the task at /ordered came once each earlier event was accepted."""
    made = [d["id"] for d in rows(task, "ordered")]
    hits = [h for h in sink.received("/ordered") if h["headers"]["webhook-id"] in made]
    accepted: list[str] = []
    for hit in hits:
        delivery_id = hit["headers"]["webhook-id"]
        assert accepted == made[: made.index(delivery_id)], (made, hits)
        if 200 <= hit["status"] < 300:
            accepted.append(delivery_id)
    assert accepted == made


def scenario(relays: list[Relay], sink: Sink) -> None:
    sink.mode(refuse_first_per_task=True)
    task_ids = [
        relays[i % len(relays)].submitted(**image_to_video(promptText=TIMING))["id"]
        for i in range(3)
    ]
    reader = relays[0]
    tasks = [reader.wait_task(t, first_refused) for t in task_ids]

    for task in tasks:
        ordered, plain = rows(task, "ordered"), rows(task, "plain")
        # Without the setting the later events went out as they came; with it they wait.
        wait_for(
            lambda task=task: all(
                d["state"] == "succeeded" for d in rows(reader.task(task["id"]), "plain")[1:]
            )
        )
        assert [d["state"] for d in plain[:1]] == ["pending"]
        assert all(d["attempts"] == 0 and d["state"] == "pending" for d in ordered[1:])

    # One task's first event sent again: its later ones follow; the others still wait, and
    # held up nothing of it.
    def replay_first(task: dict[str, Any]) -> None:
        first = rows(task, "ordered")[0]["id"]
        answer = relays[-1].api.post(f"/v1/deliveries/{first}/replay")
        assert answer.status_code == 200, answer.text

    def delivered(task_id: str) -> dict[str, Any]:
        return reader.wait_task(
            task_id, lambda t: all(d["state"] == "succeeded" for d in rows(t, "ordered"))
        )

    replay_first(tasks[0])
    done = delivered(tasks[0]["id"])
    sent_in_order(sink, done)
    for waiting in tasks[1:]:
        still = rows(reader.task(waiting["id"]), "ordered")
        assert [(d["state"], d["attempts"]) for d in still[:2]] == [("pending", 1), ("pending", 0)]

    for task in tasks[1:]:
        replay_first(task)
    for task in tasks[1:]:
        sent_in_order(sink, delivered(task["id"]))


def test_a_task_s_events_reach_an_ordered_downstream_in_order(
    make_relay: MakeRelay, sink: Sink
) -> None:
    scenario([make_relay(downstreams(sink), delivery=DELIVERY)], sink)


def test_two_replicas_keep_each_task_s_events_in_order(
    make_relay: MakeRelay, sink: Sink, storage_url: str
) -> None:
    if storage_url.startswith("sqlite"):
        pytest.skip("SQLite is one process by design")
    relays = [make_relay(downstreams(sink), delivery=DELIVERY) for _ in range(2)]
    scenario(relays, sink)


def test_the_api_takes_ordering_and_refuses_another_value(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay()
    body = {"name": "api", "url": f"{sink.url}/api", "ordering": "task"}
    created = relay.api.post("/v1/downstreams", json=body)
    assert created.status_code == 201, created.text
    assert relay.api.get("/v1/downstreams/api").json()["ordering"] == "task"
    changed = relay.api.patch("/v1/downstreams/api", json={"ordering": None})
    assert changed.status_code == 200, changed.text
    assert relay.api.get("/v1/downstreams/api").json().get("ordering") is None
    bad = relay.api.post("/v1/downstreams", json={**body, "name": "bad", "ordering": "event"})
    assert bad.status_code == 422 and "ordering" in bad.json()["detail"], bad.text


def test_postgres_checks_a_row_s_earlier_ones_by_task_and_only_when_ordered(
    storage_url: str,
) -> None:
    """The claim as a prepared statement's generic plan (psycopg prepares a statement run
    often): the flag skips the check; when set, each candidate's earlier rows are read
    through deliveries_task, never the downstream's pending rows again."""
    if storage_url.startswith("sqlite"):
        pytest.skip("SQLite's plan: tests/unit/test_sqlite_store.py")
    with psycopg.connect(storage_url, row_factory=dict_row) as conn:
        migrate(PostgresDb(conn))
        conn.execute("SET session_replication_role = replica")  # rows with no events
        conn.execute(
            "INSERT INTO deliveries (id, event_id, task_id, downstream, state,"
            " next_attempt_at, created_at, updated_at) SELECT 'msg_' || lpad(g::text, 8, '0'),"
            " 'evt_' || g, 'task_' || (g / 2), CASE WHEN g % 10 = 0 THEN 'ok' ELSE 'busy' END,"
            " 'pending', 1, 1, 1 FROM generate_series(1, 50000) g"
        )
        conn.execute("ANALYZE deliveries")
        conn.execute("SET plan_cache_mode = force_generic_plan")
        n = itertools.count(1)
        numbered = re.sub("%s", lambda _: f"${next(n)}", DUE_DELIVERIES.postgres)
        conn.execute(f"PREPARE due AS {numbered}")

        def plan(ordered: int) -> str:
            explain = f"EXPLAIN ANALYZE EXECUTE due('ok', 10, 10, {ordered}, 10)"
            return "\n".join(r["QUERY PLAN"] for r in conn.execute(explain).fetchall())

        unordered, ordered = plan(0), plan(1)
        assert "Index Scan using deliveries_due_by_downstream" in unordered
        assert "(never executed)" in unordered
        assert "Index Scan using deliveries_task on deliveries e" in ordered
        assert "never executed" not in ordered and "Seq Scan" not in ordered
        conn.rollback()


def test_the_command_line_says_ordering_is_on_when_it_makes_one(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay()
    made = relay.cli("downstreams", "create", "in-order", f"{sink.url}/o", "--ordering", "task")
    assert made.returncode == 0, made.stderr
    assert (
        "in-order: made (webhook, events " in made.stdout and ", ordering by task)" in made.stdout
    )
    plain = relay.cli("downstreams", "create", "as-they-come", f"{sink.url}/p")
    assert plain.returncode == 0 and "ordering" not in plain.stdout, plain.stdout
