"""The submit queue, end to end: `POST /v1/tasks` answers at once, a submit worker sends
each task to CometAPI (the simulator) once, never more at a time than the cap, and what
CometAPI refuses for now (429 with Retry-After, 503) is tried again, not handed back."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from receiver.devtools.localserver import BackgroundServer
from receiver.devtools.simulator import SimulatorConfig, create_simulator_app
from tests.conftest import MakeRelay, webhook
from tests.e2e.test_operator import ok, parse_table
from tests.harness import (
    API_KEY,
    Relay,
    Simulator,
    Sink,
    image_to_video,
    metric,
    settled,
    terminal,
    video2video,
    video_to_video,
    wait_for,
)
from tests.testkit import free_port, to_toml

# The submit queue's claims under the cap, taken in the store's transactions.
pytestmark = pytest.mark.every_backend

# Fast retries for tests; the defaults are 2 s doubling up to 2 min.
FAST = {"submit_retry_initial_seconds": 0.2, "submit_retry_max_seconds": 1}


@pytest.fixture
def slow_sim() -> Iterator[Simulator]:
    """A CometAPI whose renders take 4 s: long enough to see tasks wait behind them."""
    config = SimulatorConfig(api_key=API_KEY, seed=11, queued_seconds=2, running_seconds=2)
    server = BackgroundServer(create_simulator_app(config))
    server.start()
    sim = Simulator(server)
    yield sim
    sim.close()


def burst(relay: Relay, count: int, **extra: Any) -> list[dict[str, Any]]:
    """`count` submits in a row: each answered at once, queued."""
    answers = []
    for i in range(count):
        response = relay.submit(**image_to_video(promptText=f"shot {i}", **extra))
        assert response.status_code == 202, response.text
        assert response.json()["state"] == "queued"
        answers.append(response.json())
    return answers


def accepted_once(task: dict[str, Any]) -> bool:
    return [s["outcome"] for s in task["submits"]].count("accepted") == 1


def test_a_burst_never_runs_more_than_the_cap_and_goes_in_submission_order(
    make_relay: MakeRelay, sim: Simulator
):
    relay = make_relay(upstream={"max_concurrent_tasks": 2, **FAST})
    answers = burst(relay, 8)
    # While the first two run, the rest wait where the caller can see them.
    last = relay.wait_task(answers[-1]["id"], lambda t: t["queue_position"] == 6)
    assert last["submission"] == "waiting" and last["next_submit_at"] is not None
    metrics = relay.scrape()
    assert metric(metrics, "relay_submit_queue") >= 1
    assert 1 <= metric(metrics, "relay_upstream_running") <= 2
    listed = {t["id"]: t for t in relay.api.get("/v1/tasks").json()["tasks"]}
    assert listed[last["id"]]["queue_position"] is not None

    ids = [a["id"] for a in answers]
    tasks = [relay.wait_task(task_id, settled, timeout=60) for task_id in ids]
    assert all(t["state"] == "succeeded" and accepted_once(t) for t in tasks)
    # CometAPI never had more than two at once, and each task exactly once.
    stats = sim.stats()
    assert stats["running_max"] <= 2 and stats["tasks"] == stats["submits"] == 8, stats
    assert len({t["upstream_task_id"] for t in tasks}) == 8
    started = [t["submits"][0]["started_at"] for t in tasks]
    assert started == sorted(started)  # oldest first
    assert all(t["queue_position"] is None and t["submission"] == "sent" for t in tasks)


def test_busy_answers_are_retried_with_their_history_and_retry_after_holds_every_send(
    make_relay: MakeRelay, sim: Simulator
):
    relay = make_relay(upstream=FAST)
    sim.faults(submit_status=503, submit_status_count=2)
    first = relay.submit(**image_to_video()).json()["id"]
    task = relay.wait_task(first, settled)
    assert task["state"] == "succeeded"
    assert [(s["status"], s["outcome"]) for s in task["submits"]] == [
        (503, "retry"),
        (503, "retry"),
        (200, "accepted"),
    ]
    assert all(s["retry_at"] > s["finished_at"] for s in task["submits"][:2])

    # A 429 asks the whole account to wait: the task it refused, and any other.
    sim.faults(submit_status=429, submit_status_count=1, retry_after_seconds=2)
    throttled = relay.submit(**image_to_video()).json()["id"]
    refused = relay.wait_task(throttled, lambda t: len(t["submits"]) == 1)["submits"][0]
    assert (refused["status"], refused["outcome"]) == (429, "retry")
    assert refused["retry_at"] - refused["finished_at"] >= 2 - 0.01  # Retry-After honoured
    behind = relay.submit(**image_to_video()).json()["id"]
    done = [relay.wait_task(t, settled) for t in (throttled, behind)]
    assert all(t["state"] == "succeeded" and accepted_once(t) for t in done)
    assert done[1]["submits"][0]["started_at"] >= refused["retry_at"] - 0.01
    assert sim.stats()["tasks"] == 3
    metrics = relay.scrape()
    assert metric(metrics, "relay_submit_attempts_total", outcome="retry") == 3
    assert metric(metrics, "relay_submit_attempts_total", outcome="accepted") == 3


def test_an_accounts_own_limit_at_cometapi_is_absorbed_not_handed_back(
    make_relay: MakeRelay, sim: Simulator
):
    # No cap at the relay; CometAPI answers 429 past two unfinished tasks, as a small tier.
    sim.faults(concurrency_limit=2, retry_after_seconds=0.5)
    relay = make_relay(upstream=FAST)
    ids = [a["id"] for a in burst(relay, 6)]
    tasks = [relay.wait_task(task_id, settled, timeout=60) for task_id in ids]
    assert all(t["state"] == "succeeded" and accepted_once(t) for t in tasks)
    assert sim.stats()["submit_faults"] > 0  # the limit was met, and waited out
    assert sim.stats()["tasks"] == 6 and sim.stats()["running_max"] <= 2


def test_a_task_cometapi_never_has_room_for_fails_after_the_give_up_time(
    make_relay: MakeRelay, sim: Simulator
):
    relay = make_relay(upstream={**FAST, "submit_give_up_seconds": 2})
    sim.faults(submit_status=503)
    task_id = relay.submit(**video_to_video()).json()["id"]
    task = relay.wait_task(task_id, terminal)
    sim.faults(submit_status=None)
    assert task["state"] == "failed"
    assert task["error"].startswith("submit: CometAPI had no room for")
    assert task["error"].endswith("last: upstream exploded")
    assert [s["outcome"] for s in task["submits"]][-1] == "failed"
    assert len(task["submits"]) > 1 and sim.stats()["tasks"] == 0


def test_idempotency_keys_while_queued_and_while_retried(
    make_relay: MakeRelay, slow_sim: Simulator
):
    relay = make_relay(upstream={"base_url": slow_sim.url, "max_concurrent_tasks": 1, **FAST})
    busy = relay.submitted(**image_to_video())  # holds the one slot for 4 s
    key = {"Idempotency-Key": "render-7"}
    first = relay.api.post("/v1/tasks", json=video_to_video(), headers=key)
    again = relay.api.post("/v1/tasks", json=video_to_video(), headers=key)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["state"] == "queued" and again.json()["queue_position"] == 1
    other = relay.api.post("/v1/tasks", json=video_to_video(promptText="another"), headers=key)
    assert other.status_code == 409, other.text
    assert other.json()["detail"] == (
        f"Idempotency-Key 'render-7' was used for task {first.json()['id']} with a different"
        " request; send a new key for a new task"
    )
    # Refused for now by CometAPI and waiting for its next try: still the same task.
    slow_sim.faults(submit_status=503)
    relay.wait_task(busy["id"], settled)
    retried = relay.wait_task(first.json()["id"], lambda t: len(t["submits"]) >= 2)
    assert retried["submission"] in ("waiting", "sending")
    during = relay.api.post("/v1/tasks", json=video_to_video(), headers=key)
    assert (during.status_code, during.json()["id"]) == (200, first.json()["id"])
    slow_sim.faults(submit_status=None)
    done = relay.wait_task(first.json()["id"], settled)
    assert done["state"] == "succeeded" and accepted_once(done)
    assert slow_sim.stats()["tasks"] == 2


def test_a_waiting_task_cancelled_never_reaches_cometapi(
    make_relay: MakeRelay, slow_sim: Simulator, sink: Sink
):
    relay = make_relay(
        [webhook(sink, events=["cancelled", "succeeded"])],
        upstream={"base_url": slow_sim.url, "max_concurrent_tasks": 1, **FAST},
    )
    busy = relay.submitted(**image_to_video())
    # video2video has no cancel at CometAPI; waiting here, it needs none.
    waiting = relay.submit(**video2video()).json()
    after = relay.submit(**image_to_video()).json()
    answer = relay.api.delete(f"/v1/tasks/{waiting['id']}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "cancelled"  # at once, not after CometAPI's word
    # The task behind it is sent next: the cancelled one had its turn and did not go.
    sent = relay.wait_task(after["id"], settled)
    assert sent["state"] == "succeeded"
    cancelled = relay.task(waiting["id"])
    assert (cancelled["submission"], cancelled["submits"]) == ("not_sent", [])
    assert {t["task_id"] for t in slow_sim.tasks()} == {
        busy["upstream_task_id"],
        sent["upstream_task_id"],
    }
    wait_for(lambda: len(sink.received()) == 3)
    types = sorted(h["json"]["type"] for h in sink.received())
    assert types == ["task.cancelled", "task.succeeded", "task.succeeded"]


def test_tasks_waiting_when_the_relay_is_killed_are_sent_after_the_restart_once_each(
    make_relay: MakeRelay, slow_sim: Simulator
):
    relay = make_relay(upstream={"base_url": slow_sim.url, "max_concurrent_tasks": 1, **FAST})
    ids = [a["id"] for a in burst(relay, 4)]
    relay.wait_task(ids[0], lambda t: t["submission"] == "sent")
    # The first runs upstream; the other three wait, none is being sent.
    assert [relay.task(t)["submission"] for t in ids[1:]] == ["waiting"] * 3
    relay.kill()
    # What the store holds meanwhile, as `receiver tasks list` shows it.
    rows = {r["id"]: r for r in parse_table(ok(relay, "tasks", "list"))}
    assert [(rows[t]["in line"], rows[t]["sends"]) for t in ids] == [
        ("-", "1"),
        ("1", "0"),
        ("2", "0"),
        ("3", "0"),
    ]
    relay.start()
    tasks = [relay.wait_task(t, settled, timeout=60) for t in ids]
    assert all(t["state"] == "succeeded" and accepted_once(t) for t in tasks)
    assert slow_sim.stats()["tasks"] == slow_sim.stats()["submits"] == 4
    assert slow_sim.stats()["running_max"] == 1


def test_a_failure_worth_another_try_is_sent_again_and_safety_never(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
):
    relay = make_relay([webhook(sink)], upstream={"resubmit_failed": 2, **FAST})
    bad_output = relay.submit(**image_to_video(promptText="FAIL[INTERNAL.BAD_OUTPUT.CODE01]"))
    unsafe = relay.submit(**image_to_video(promptText="FAIL[SAFETY.INPUT.TEXT]"))
    again = relay.wait_task(bad_output.json()["id"], settled, timeout=60)
    never = relay.wait_task(unsafe.json()["id"], settled, timeout=60)
    # Three upstream tasks under one relay task: the first and two more, all failed.
    assert (again["state"], again["resubmits"], len(again["submits"])) == ("failed", 2, 3)
    assert (never["state"], never["resubmits"], len(never["submits"])) == ("failed", 0, 1)
    assert sim.stats()["tasks"] == 4
    ended = {h["json"]["data"]["task_id"]: h["json"]["data"] for h in sink.received()}
    assert ended[again["id"]]["failure_code"] == "INTERNAL.BAD_OUTPUT.CODE01"
    assert ended[again["id"]]["upstream_task_id"] == again["upstream_task_id"]
    assert ended[never["id"]]["failure_code"] == "SAFETY.INPUT.TEXT"
    assert ended[never["id"]]["failure_message"] == (
        "The request was declined by content moderation."
    )
    assert "SAFETY" not in ended[never["id"]]["failure_message"]
    # The replaced upstream tasks' failures are history; only the last one was applied.
    failed = [e for e in again["events"] if e["state"] == "failed"]
    assert [e["applied"] for e in failed] == [False, False, True]


def test_replicas_on_postgresql_share_one_cap(
    make_relay: MakeRelay, slow_sim: Simulator, storage_url: str
):
    if storage_url.startswith("sqlite"):
        pytest.skip("one process per SQLite store: replicas share PostgreSQL")
    settings = {"base_url": slow_sim.url, "max_concurrent_tasks": 2, **FAST}
    replicas = [make_relay(upstream=settings) for _ in range(3)]
    ids = [a["id"] for r in replicas for a in burst(r, 3)]
    tasks = [replicas[0].wait_task(t, settled, timeout=90) for t in ids]
    assert all(t["state"] == "succeeded" and accepted_once(t) for t in tasks)
    stats = slow_sim.stats()
    assert stats["running_max"] <= 2 and stats["tasks"] == stats["submits"] == 9, stats


def test_a_cometapi_that_refuses_connections_keeps_the_task_queued_until_it_is_back(
    make_relay: MakeRelay, sim: Simulator
):
    # Nothing listens where the relay looks for CometAPI: every send is refused.
    settings = {"base_url": f"http://127.0.0.1:{free_port()}", **FAST}
    relay = make_relay(upstream=settings)
    task_id = relay.submit(**video_to_video()).json()["id"]
    waiting = relay.wait_task(task_id, lambda t: len(t["submits"]) >= 2)
    assert waiting["state"] == "queued" and waiting["submission"] in ("waiting", "sending")
    assert all(
        (s["status"], s["outcome"]) == (None, "retry") and "unreachable" in s["error"]
        for s in waiting["submits"]
    )
    # Pointed at CometAPI again (a restart with the address fixed), it is sent once.
    relay.stop()
    config = tomllib.loads(relay.config_path.read_text())
    config["upstream"]["base_url"] = sim.url
    relay.config_path.write_text(to_toml(config))
    relay.start()
    done = relay.wait_task(task_id, settled)
    assert done["state"] == "succeeded" and accepted_once(done)
    assert sim.stats()["tasks"] == 1


def test_keys_take_turns_so_a_batch_does_not_hold_another_apps_task_behind_it(
    make_relay: MakeRelay, slow_sim: Simulator
):
    relay = make_relay(upstream={"base_url": slow_sim.url, "max_concurrent_tasks": 2, **FAST})
    clients = {}
    for name in ("app-a", "app-b"):
        made = relay.api.post("/v1/keys", json={"name": name, "scopes": ["tasks:submit"]})
        key = made.json()["key"]
        clients[name] = httpx.Client(
            base_url=relay.url, timeout=15, headers={"Authorization": f"Bearer {key}"}
        )
    batch = [
        clients["app-a"].post("/v1/tasks", json=image_to_video(promptText=f"a {i}")).json()["id"]
        for i in range(200)
    ]
    single = clients["app-b"].post("/v1/tasks", json=image_to_video(promptText="b")).json()
    asked_at = relay.api.get(f"/v1/tasks/{single['id']}").json()["created_at"]
    sent = relay.wait_task(single["id"], lambda t: t["submission"] == "sent", timeout=60)
    sent_at = sent["submits"][0]["started_at"]
    # Sends of the batch's tasks after app B asked and before its task went.
    ahead = 0
    for task_id in batch:
        task = relay.api.get(f"/v1/tasks/{task_id}").json()
        ahead += any(asked_at < s["started_at"] < sent_at for s in task["submits"])
    assert ahead <= 2, ahead
