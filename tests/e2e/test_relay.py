"""The product path end to end: submit, callback or poll, persist, fan out."""

from __future__ import annotations

import json
import time

import pytest

from receiver.kernel.net.outbound import env_proxy
from receiver.kernel.secrets.tokens import CallbackSigner
from tests.conftest import MakeRelay, webhook
from tests.harness import (
    SEEN_RUNNING,
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    Simulator,
    Sink,
    image_to_video,
    settled,
    terminal,
    verify_standard_webhook,
    video2video,
    video_to_video,
    wait_for,
)

# The relay end to end, as several replicas run it on PostgreSQL.
pytestmark = pytest.mark.every_backend


def test_video2video_round_trip_by_callback(make_relay: MakeRelay, sim: Simulator, sink: Sink):
    relay = make_relay(
        [
            webhook(sink),
            {"name": "slack", "url": f"{sink.url}/slack", "format": "slack"},
            {"name": "discord", "url": f"{sink.url}/discord", "format": "discord"},
        ],
        # Not asked before its callback (a video2video task is polled until it runs).
        polling={"initial_delay_seconds": 60},
    )
    response = relay.submit(**video2video(options={"structure_transformation": 0.4}))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["kind"] == "video2video" and body["state"] == "queued"
    assert body["callback_url"].startswith(f"{relay.url}/callbacks/runway/")
    sent = relay.wait_task(body["id"], lambda t: t["submission"] == "sent")
    upstream = next(t for t in sim.tasks() if t["task_id"] == sent["upstream_task_id"])
    # The sender signs the URL CometAPI gets, so its token's time may be a second past the
    # answer's: both name this task under the relay's secret.
    signer = CallbackSigner([SIGNING_SECRET], 3600, relay.url)
    for url in (upstream["callback_url"], body["callback_url"]):
        prefix, token = url.rsplit("/", 1)
        assert prefix == f"{relay.url}/callbacks/runway"
        assert signer.verify(token) == body["id"]

    task = relay.wait_task(body["id"], settled)
    assert task["state"] == "succeeded"
    assert task["outputs"] == [f"{sim.url}/cdn/{sent['upstream_task_id']}.mp4"]
    # The callback is a claim; CometAPI's answer to the poll it brings is what is applied.
    sources = [(e["source"], e["state"], e["applied"], e["verdict"]) for e in task["events"]]
    assert sources == [
        ("submit", "queued", True, None),
        ("callback", "succeeded", False, "confirmed"),
        ("poll", "succeeded", True, None),
    ]
    assert sorted(d["downstream"] for d in task["deliveries"]) == ["discord", "hook", "slack"]
    assert all(d["state"] == "succeeded" and d["attempts"] == 1 for d in task["deliveries"])

    [hook] = sink.received("/hook")
    assert verify_standard_webhook(WEBHOOK_SECRET, hook["headers"], hook["body"].encode())
    event = json.loads(hook["body"])
    assert event["type"] == "task.succeeded"
    assert event["data"]["task_id"] == body["id"]
    assert event["data"]["outputs"] == task["outputs"]
    [slack] = sink.received("/slack")
    assert body["id"] in slack["json"]["text"] and "succeeded" in slack["json"]["text"]
    [discord] = sink.received("/discord")
    assert discord["json"]["embeds"][0]["url"] == task["outputs"][0]
    # Only signed downstreams carry a signature.
    assert "webhook-signature" not in slack["headers"]


def test_official_tasks_complete_by_polling(make_relay: MakeRelay, sim: Simulator, sink: Sink):
    relay = make_relay([webhook(sink, events=["running", "succeeded", "failed"])])
    i2v = relay.submit(**image_to_video(duration=10, ratio="768:1280", promptText=SEEN_RUNNING))
    v2v = relay.submit(
        **video_to_video(
            references=[{"type": "image", "uri": "https://example.invalid/s.jpg"}],
            promptText=SEEN_RUNNING,
        )
    )
    assert i2v.status_code == v2v.status_code == 202
    assert "callback_url" not in i2v.json()
    for response in (i2v, v2v):
        task = relay.wait_task(response.json()["id"], settled)
        assert task["state"] == "succeeded"
        assert task["progress"] == 1.0  # whatever figure CometAPI last gave while it ran
        assert task["outputs"]
        assert {e["source"] for e in task["events"]} == {"submit", "poll"}
        assert [d["state"] for d in task["deliveries"]] == ["succeeded", "succeeded"]
    # Runway's first answers for a fresh task are task_not_exist: tolerated, then polled on.
    assert sim.stats()["polls"] >= 4
    states = [json.loads(h["body"])["data"]["state"] for h in sink.received("/hook")]
    assert sorted(states) == ["running", "running", "succeeded", "succeeded"]


def test_failed_task_is_reported_with_reason(make_relay: MakeRelay, sim: Simulator, sink: Sink):
    relay = make_relay([webhook(sink)])
    task_id = relay.submit(**image_to_video(promptText="FAIL please")).json()["id"]
    task = relay.wait_task(task_id, settled)
    assert task["state"] == "failed" and task["error"]
    assert task["progress"] is None
    [hit] = sink.received("/hook")
    assert json.loads(hit["body"])["data"]["error"] == task["error"]


def test_dropped_callback_is_recovered_by_polling(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
):
    sim.faults(drop_next=1)
    relay = make_relay([webhook(sink)], polling={"callback_grace_seconds": 1.5})
    task_id = relay.submit(**video2video()).json()["id"]
    task = relay.wait_task(task_id, settled)
    assert task["state"] == "succeeded"
    applied = [(e["source"], e["state"]) for e in task["events"] if e["applied"]]
    assert applied[0] == ("submit", "queued") and applied[-1] == ("poll", "succeeded")
    assert {source for source, _ in applied[1:]} == {"poll"}
    assert [c["kind"] for c in sim.callbacks()] == ["dropped"]
    assert len(sink.received("/hook")) == 1


def test_duplicate_and_out_of_order_callbacks(make_relay: MakeRelay, sim: Simulator, sink: Sink):
    sim.faults(duplicate=3, reorder=True, progress_callbacks=True)
    relay = make_relay([webhook(sink, events=["running", "succeeded"])])
    task_id = relay.submit(**video2video()).json()["id"]
    wait_for(lambda: len(sim.callbacks()) >= 6)
    task = relay.wait_task(task_id, settled)
    assert task["state"] == "succeeded"
    callbacks = [e for e in task["events"] if e["source"] == "callback"]
    # Each callback is kept once as a claim (exact repeats are not stored), and each agrees
    # with CometAPI; the states themselves come from the polls they brought.
    # The progress callback's status "2" is a number no document defines: a bare hint.
    assert [e["state"] for e in callbacks][:2] == [None, "succeeded"]
    assert {(e["applied"], e["verdict"]) for e in callbacks} == {(False, "confirmed")}
    applied = [(e["source"], e["state"]) for e in task["events"] if e["applied"]]
    assert applied == [("submit", "queued"), ("poll", "running"), ("poll", "succeeded")]
    assert all(c["status"] == 200 for c in sim.callbacks())
    states = [json.loads(h["body"])["data"]["state"] for h in sink.received("/hook")]
    assert states == ["running", "succeeded"]
    time.sleep(0.5)  # nothing more trickles out later
    assert len(sink.received("/hook")) == 2


def test_callback_after_poll_is_a_duplicate(make_relay: MakeRelay, sim: Simulator, sink: Sink):
    sim.faults(delay_seconds=2.5)
    relay = make_relay([webhook(sink)], polling={"callback_grace_seconds": 0.5})
    task_id = relay.submit(**video2video()).json()["id"]
    relay.wait_task(task_id, settled)
    wait_for(lambda: sim.callbacks())
    [callback] = sim.callbacks()
    assert callback["status"] == 200
    task = relay.task(task_id)
    events = task["events"]
    assert (events[-1]["source"], events[-1]["state"], events[-1]["applied"]) == (
        "callback",
        "succeeded",
        False,
    )
    assert [e["source"] for e in events if e["state"] == "succeeded"] == ["poll", "callback"]
    assert len(sink.received("/hook")) == 1


def test_downstream_fails_then_recovers(make_relay: MakeRelay, sim: Simulator, sink: Sink):
    sink.mode(status=503, count=2)
    relay = make_relay([webhook(sink)])
    task_id = relay.submit(**image_to_video()).json()["id"]
    task = relay.wait_task(task_id, settled)
    [delivery] = task["deliveries"]
    assert delivery["state"] == "succeeded" and delivery["attempts"] == 3
    hits = sink.received("/hook")
    assert [h["status"] for h in hits] == [503, 503, 200]
    # One message, one id: a receiver can drop repeats by webhook-id.
    assert {h["headers"]["webhook-id"] for h in hits} == {delivery["id"]}
    assert all(
        verify_standard_webhook(WEBHOOK_SECRET, h["headers"], h["body"].encode()) for h in hits
    )


def test_retry_after_is_honoured(make_relay: MakeRelay, sim: Simulator, sink: Sink):
    sink.mode(status=429, count=1, retry_after=2)
    relay = make_relay([webhook(sink)])
    task_id = relay.submit(**image_to_video()).json()["id"]
    relay.wait_task(task_id, settled)
    # Delivery is at least once: on a loaded machine an attempt the sink answered can still
    # time out at the relay and be sent again, so there may be more than two. None may come
    # before the Retry-After.
    first, *later = sink.received("/hook")
    assert (first["status"], later[0]["status"]) == (429, 200)
    assert all(hit["received_at"] - first["received_at"] >= 1.9 for hit in later)


def test_downstream_proxy_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    for name in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert env_proxy("https://hooks.example/x") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    assert env_proxy("https://hooks.example/x") == "http://127.0.0.1:3128"
    assert env_proxy("https://internal.example/x") is None
    assert env_proxy("http://hooks.example/x") is None  # no HTTP_PROXY


def test_dead_letter_after_last_attempt(make_relay: MakeRelay, sim: Simulator, sink: Sink):
    sink.mode(status=500)
    relay = make_relay([webhook(sink)])
    task_id = relay.submit(**image_to_video()).json()["id"]
    task = relay.wait_task(task_id, settled)
    [delivery] = task["deliveries"]
    assert delivery["state"] == "dead"
    assert delivery["attempts"] == 4  # first try + the three scheduled retries
    assert "gave up after 4 attempts" in delivery["last_error"]
    assert len(sink.received("/hook")) == 4
    dead = relay.api.get("/v1/deliveries", params={"state": "dead"}).json()["deliveries"]
    assert [d["id"] for d in dead] == [delivery["id"]]

    # The operator fixes the downstream and replays the dead letters.
    sink.mode(status=200)
    replayed = relay.api.post("/v1/deliveries/replay", params={"downstream": "hook"})
    assert replayed.json() == {"replayed": 1}
    relay.wait_task(task_id, lambda t: t["deliveries"][0]["state"] == "succeeded")


def test_client_error_is_not_retried(make_relay: MakeRelay, sim: Simulator, sink: Sink):
    sink.mode(status=404)  # (410 is heard as "stop sending": tests/e2e/test_task_routing.py)
    relay = make_relay([webhook(sink)])
    task_id = relay.submit(**image_to_video()).json()["id"]
    task = relay.wait_task(task_id, settled)
    [delivery] = task["deliveries"]
    assert (delivery["state"], delivery["attempts"], delivery["last_status"]) == ("dead", 1, 404)


def test_events_filter_selects_states(make_relay: MakeRelay, sim: Simulator, make_sink):
    done, failures = make_sink(), make_sink()
    relay = make_relay(
        [
            webhook(done, "done", events=["succeeded"]),
            webhook(failures, "failures", events=["failed"]),
        ]
    )
    ok = relay.submit(**image_to_video()).json()["id"]
    bad = relay.submit(**image_to_video(promptText="FAIL")).json()["id"]
    relay.wait_task(ok, settled)
    relay.wait_task(bad, settled)
    assert [json.loads(h["body"])["data"]["task_id"] for h in done.received()] == [ok]
    assert [json.loads(h["body"])["data"]["task_id"] for h in failures.received()] == [bad]


def test_restart_resumes_pending_deliveries(make_relay: MakeRelay, sim: Simulator, sink: Sink):
    sink.mode(status=500)
    relay = make_relay([webhook(sink)], delivery={"retry_schedule": [0.2, 2, 2]})
    task_id = relay.submit(**image_to_video()).json()["id"]
    relay.wait_task(task_id, lambda t: terminal(t) and t["deliveries"][0]["attempts"] >= 2)
    relay.stop()  # SIGTERM: graceful; the delivery stays pending
    assert "service.stopped" in relay.log()
    sink.mode(status=200)
    relay.start()  # the new process finds the row pending and sends it when due
    task = relay.wait_task(task_id, settled)
    assert task["deliveries"][0]["state"] == "succeeded"
    assert sink.received("/hook")[-1]["status"] == 200


def test_restart_resumes_unfinished_polls(make_relay: MakeRelay, sim: Simulator, sink: Sink):
    relay = make_relay([webhook(sink)], polling={"initial_delay_seconds": 1.0})
    task_id = relay.submitted(**image_to_video())["id"]
    relay.kill()  # before the first poll: nothing but the store knows about the task
    relay.start()
    task = relay.wait_task(task_id, settled)
    assert task["state"] == "succeeded" and len(sink.received("/hook")) == 1


def test_sigterm_finishes_in_flight_delivery(make_relay: MakeRelay, sim: Simulator, sink: Sink):
    sink.mode(status=200, delay_seconds=1.0)
    relay = make_relay([webhook(sink)])
    task_id = relay.submit(**image_to_video()).json()["id"]
    wait_for(lambda: sink.received("/hook"))
    relay.stop()
    assert "service.stopped" in relay.log()
    relay.start()
    task = relay.task(task_id)
    assert task["deliveries"][0]["state"] == "succeeded"
    assert len(sink.received("/hook")) == 1


def test_submit_cut_off_by_a_crash_is_failed_not_forgotten(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
):
    sim.faults(submit_delay_seconds=1.5)
    relay = make_relay([webhook(sink)], polling={"callback_grace_seconds": 1})
    task_id = relay.submit(**image_to_video()).json()["id"]
    relay.wait_task(task_id, lambda t: t["submission"] == "sending")
    # "sending" is committed before the request leaves: wait until CometAPI has it.
    wait_for(lambda: sim.stats()["submits"] >= 1)
    relay.kill()  # CometAPI's answer is never read
    sim.faults(submit_delay_seconds=0)
    relay.start()
    task = relay.wait_task(task_id, settled)
    assert task["state"] == "failed" and "submission interrupted" in task["error"]
    assert json.loads(sink.received("/hook")[0]["body"])["data"]["state"] == "failed"
    # CometAPI took it after all; the relay cannot know, and does not send it twice.
    assert sim.stats()["submits"] == sim.stats()["tasks"] == 1
    assert [s["outcome"] for s in task["submits"]] == []  # the send never got an answer


def test_a_timed_out_send_bound_by_its_callback_is_not_sent_again(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
):
    sim.faults(submit_delay_seconds=2.5)  # the relay gives up after 2 s; CometAPI goes on
    # The next try is due after the callback of the task CometAPI made after all.
    upstream = {"timeout_seconds": 2, "submit_retry_initial_seconds": 6}
    relay = make_relay([webhook(sink)], upstream=upstream)
    response = relay.submit(**video2video())
    assert response.status_code == 202
    task_id = response.json()["id"]
    # That callback binds the waiting task, so the next try never goes.
    task = relay.wait_task(task_id, settled)
    assert task["state"] == "succeeded" and task["upstream_task_id"]
    assert [(e["source"], e["verdict"]) for e in task["events"]] == [
        ("callback", "confirmed"),
        ("poll", None),
    ]
    [send] = task["submits"]
    assert (send["outcome"], send["status"]) == ("retry", None)
    assert "did not answer in time" in send["error"]
    assert task["submission"] == "sent" and task["next_submit_at"] is None
    assert len(sink.received("/hook")) == 1
    assert sim.stats()["tasks"] == 1


def test_sqlite_restart_takes_back_a_killed_process_leases(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, storage_url: str
):
    if not storage_url.startswith("sqlite"):
        pytest.skip("PostgreSQL replicas wait for the lease to expire (tests/e2e/test_replicas.py)")
    sink.mode(status=200, delay_seconds=1.5)
    # A lease far longer than the test: only taking it back at start can resend the row.
    relay = make_relay([webhook(sink)], delivery={"lease_seconds": 3600})
    task_id = relay.submit(**image_to_video()).json()["id"]
    wait_for(lambda: sink.received("/hook"))
    relay.kill()  # mid-attempt: the row stays leased to a dead process
    sink.mode(status=200)
    relay.start()
    task = relay.wait_task(task_id, settled)
    assert task["deliveries"][0]["state"] == "succeeded"
    ids = {h["headers"]["webhook-id"] for h in sink.received("/hook")}
    assert ids == {task["deliveries"][0]["id"]}  # the resend is the same message
