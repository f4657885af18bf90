"""The admin API's contract: who may call it, what it refuses before anything leaves, what
it answers when CometAPI misbehaves, and the read, health and metrics routes."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import MakeRelay, webhook
from tests.harness import (
    Relay,
    Simulator,
    Sink,
    image_to_video,
    metric,
    settled,
    video2video,
    video_to_video,
    wait_for,
)

DATA_URI = "data:video/mp4;base64,AAAAIGZ0eXBpc29tAAACAGlzb21pc28y"
TASK_KEYS = {"id", "upstream_task_id", "kind", "state"}


def test_submit_refuses_before_anything_leaves(make_relay: MakeRelay, sim: Simulator):
    relay = make_relay()
    body = image_to_video()
    assert relay.anon.post("/v1/tasks", json=body).status_code == 401
    wrong = relay.anon.post("/v1/tasks", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    not_json = relay.api.post("/v1/tasks", content=b"kind=image_to_video")
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["detail"]

    # (request, the field the 422 must name)
    invalid: list[tuple[dict[str, Any], str]] = [
        ({"kind": "text_to_hologram", "promptText": "x"}, "kind"),
        ({"kind": "text_to_video", "promptText": "x"}, "model"),
        ({k: v for k, v in image_to_video().items() if k != "model"}, "model"),
        (video_to_video(model=" "), "model"),
        (video_to_video(model=7), "model"),
        (image_to_video(webhook="ftp://example.invalid/hook"), "webhook"),
        (image_to_video(callback_url="https://example.invalid/hook"), "callback_url"),
        (video2video(callback_url="https://example.invalid/hook"), "callback_url"),
        (video2video(video="ftp://example.invalid/in.mp4"), "video"),
    ]
    for request, field in invalid:
        response = relay.api.post("/v1/tasks", json=request)
        assert response.status_code == 422, (request, response.text)
        assert response.json()["error"] == "invalid_request"
        assert response.json()["detail"].startswith(f"{field}:"), (field, response.json())
        assert "Value error" not in response.json()["detail"]

    # Every offending field at once, in the relay's words.
    several = video2video(callback_url="https://example.invalid/hook", prompt="", colour="red")
    detail = relay.api.post("/v1/tasks", json=several).json()["detail"]
    assert [part.split(":")[0] for part in detail.split("; ")] == [
        "callback_url",
        "prompt",
        "colour",
    ], detail
    assert "colour: unknown field, leave it out" in detail and "Extra inputs" not in detail

    # Not JSON that CometAPI could be sent (httpx refuses NaN and lone surrogates): NaN is
    # refused as the body is read (kernel/http/body.py), a lone surrogate by the field.
    nan = json.dumps(video2video())[:-1] + ', "options": {"strength": NaN}}'
    response = relay.api.post("/v1/tasks", content=nan.encode())
    assert response.status_code == 400 and "NaN" in response.json()["detail"], response.text
    lone = json.dumps(video2video())[:-1] + ', "options": {"note": "\\ud800"}}'
    response = relay.api.post("/v1/tasks", content=lone.encode())
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("options:")
    lone = json.dumps(video_to_video())[:-1] + ', "note": "\\ud800"}'
    response = relay.api.post("/v1/tasks", content=lone.encode())
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("note: must be plain JSON"), response.text

    assert sim.stats()["submits"] == 0
    assert relay.api.get("/v1/tasks").json()["tasks"] == []


def test_valid_submissions_reach_cometapi(make_relay: MakeRelay, sim: Simulator):
    relay = make_relay()
    valid = [
        video_to_video(promptText="x" * 1000, seed=4294967295, ratio="720:1280"),
        video_to_video(
            videoUri=DATA_URI,
            seed=0,
            references=[{"type": "image", "uri": "https://example.invalid/a.jpg"}],
        ),
        image_to_video(promptText="x" * 512, seed=999999999, duration=5, ratio="1280:720"),
        image_to_video(duration=10),
        video2video(video="http://example.invalid/in.mp4", options={"flip": True}),
    ]
    for request in valid:
        response = relay.submit(**request)
        assert response.status_code == 202, (request, response.text)
        body = response.json()
        reverse = request["kind"] == "video2video"
        expected = TASK_KEYS | {"queue_position"} | ({"callback_url"} if reverse else set())
        assert set(body) == expected
        assert (body["kind"], body["state"]) == (request["kind"], "queued")
        assert body["id"].startswith("tsk_") and body["queue_position"] >= 1
        sent = relay.wait_task(body["id"], lambda t: t["submission"] == "sent")
        assert sent["upstream_task_id"] and sent["submits"][-1]["outcome"] == "accepted"
    # The simulator enforces the API key (and X-Runway-Version on the official routes):
    # every task exists upstream and no request was turned away.
    assert sim.stats()["unauthorized"] == 0
    assert sim.stats()["tasks"] == sim.stats()["submits"] == len(valid)


def test_official_bodies_reach_cometapi_as_sent(make_relay: MakeRelay, sim: Simulator):
    """Models, ratios, durations and fields the relay has never heard of are CometAPI's to
    judge: the body it receives is the one the caller sent, with nothing filled in."""
    relay = make_relay()
    unusual = video_to_video(ratio="1:1", futureOption={"level": 3, "tags": ["a", "b"]})
    del unusual["seed"]
    sent = relay.submitted(**unusual)
    front = {"model": "gen4.5", "promptImage": "https://example.invalid/a.png", "newKnob": True}
    created = relay.api.post(
        "/runwayml/v1/image_to_video", json=front, headers={"X-Runway-Version": "2024-11-06"}
    )
    assert created.status_code == 200, created.text
    [first, second] = wait_for(lambda: len(sim.tasks()) == 2 and sim.tasks())
    assert first["body"] == {k: v for k, v in unusual.items() if k != "kind"}
    assert second["body"] == front
    # The task keeps what was sent, too.
    assert relay.task(sent["id"])["request"] == first["body"]
    assert relay.task(created.json()["id"])["request"] == front

    # A value CometAPI refuses is its refusal, in its words, on a task the relay took.
    refused = relay.submit(**image_to_video(ratio="16:9", duration=7))
    assert refused.status_code == 202, refused.text
    task = relay.wait_task(refused.json()["id"], lambda t: t["state"] == "failed")
    assert "duration must be 5 or 10" in task["error"], task


def test_lasting_refusals_fail_the_task_with_cometapis_words(make_relay: MakeRelay, sim: Simulator):
    relay = make_relay()

    def refused(request: dict[str, Any], status: int | None, detail: str) -> dict[str, Any]:
        # Accepted at once, whatever CometAPI will say: its answer is the task's history.
        response = relay.submit(**request)
        assert response.status_code == 202, response.text
        task = relay.wait_task(response.json()["id"], lambda t: t["state"] == "failed")
        assert detail in task["error"], task
        [send] = task["submits"]
        assert (send["status"], send["outcome"], send["retry_at"]) == (status, "failed", None)
        assert detail in send["error"] and task["submission"] == "not_sent"
        return task

    sim.faults(submit_status=500, submit_status_count=2)
    refused(image_to_video(), 500, "upstream exploded")
    refused(video2video(), 500, "upstream exploded")
    sim.faults(submit_status=401, submit_status_count=1)
    refused(video_to_video(), 401, "Incorrect API key provided: Bearer [redacted]")
    # A body that is not JSON may come with a task made: never sent again.
    sim.faults(submit_malformed=True)
    refused(image_to_video(), 200, "not JSON")
    refused(video2video(), 200, "not JSON")
    assert sim.stats()["tasks"] == 0
    assert sim.stats()["submits"] == 5


def test_idempotency_key(make_relay: MakeRelay, sim: Simulator):
    relay = make_relay()
    key = {"Idempotency-Key": "order-4711"}
    first = relay.api.post("/v1/tasks", json=image_to_video(), headers=key)
    relay.wait_task(first.json()["id"], lambda t: t["submission"] == "sent")
    second = relay.api.post("/v1/tasks", json=image_to_video(), headers=key)
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["upstream_task_id"] == relay.task(first.json()["id"])["upstream_task_id"]
    assert sim.stats()["tasks"] == 1
    other = relay.api.post("/v1/tasks", json=image_to_video(), headers={"Idempotency-Key": "b"})
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]

    # A client retrying at the same moment (its first try timed out) gets the same task too.
    answers: list[httpx.Response] = []
    race = {"Idempotency-Key": "order-4712"}

    def send() -> None:
        answers.append(relay.api.post("/v1/tasks", json=image_to_video(), headers=race))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 202], answers
    assert len({a.json()["id"] for a in answers}) == 1
    wait_for(lambda: sim.stats()["tasks"] == 3)
    assert len(relay.api.get("/v1/tasks").json()["tasks"]) == 3


def test_reads_health_and_metrics(
    make_relay: MakeRelay, sim: Simulator, make_sink: Callable[[], Sink]
):
    done, all_ends = make_sink(), make_sink()
    sim.faults(drop_rate=1.0)  # the relay's callbacks below are the only ones
    relay: Relay = make_relay(
        [webhook(done, "done", events=["succeeded"]), webhook(all_ends, "ends")],
        polling={"callback_grace_seconds": 60},
    )
    ok = relay.submit(**image_to_video()).json()["id"]
    bad = relay.submit(**image_to_video(promptText="FAIL")).json()["id"]
    relay.wait_task(ok, settled)
    relay.wait_task(bad, settled)

    for path in ("/v1/tasks", f"/v1/tasks/{ok}", "/v1/deliveries"):
        assert relay.anon.get(path).status_code == 401, path
    assert relay.api.get("/v1/tasks/tsk_nope").status_code == 404

    def task_ids(**params: Any) -> list[str]:
        response = relay.api.get("/v1/tasks", params=params)
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()["tasks"]]

    assert task_ids() == [bad, ok]  # newest first
    assert task_ids(state="succeeded") == [ok]
    assert task_ids(state="failed") == [bad]
    assert task_ids(state="running") == []
    assert task_ids(limit=1) == [bad]
    for params in ({"state": "done"}, {"limit": "0"}, {"limit": "1001"}, {"limit": "ten"}):
        response = relay.api.get("/v1/tasks", params=params)
        assert response.status_code == 400 and response.json()["detail"], params

    def deliveries(**params: Any) -> list[tuple[str, str]]:
        response = relay.api.get("/v1/deliveries", params=params)
        assert response.status_code == 200, response.text
        return sorted((d["task_id"], d["downstream"]) for d in response.json()["deliveries"])

    everything = sorted([(ok, "done"), (ok, "ends"), (bad, "ends")])
    assert deliveries() == everything
    assert deliveries(state="succeeded") == everything
    assert deliveries(state="dead") == []
    assert deliveries(downstream="done") == [(ok, "done")]
    assert deliveries(task_id=bad) == [(bad, "ends")]
    assert deliveries(task_id=ok, downstream="ends") == [(ok, "ends")]
    assert len(deliveries(limit=2)) == 2
    for params in ({"state": "sent"}, {"limit": "-1"}):
        assert relay.api.get("/v1/deliveries", params=params).status_code == 400, params

    assert relay.anon.get("/healthz").json() == {"ok": True}
    assert relay.anon.get("/livez").json() == {"ok": True}
    assert relay.anon.get("/readyz").json() == {"ok": True}

    v2v = relay.submitted(**video2video())
    callback = "/callbacks/runway/" + v2v["callback_url"].rsplit("/", 1)[1]
    envelope = {"code": 200, "data": {"task_id": v2v["upstream_task_id"], "status": "SUCCESS"}}
    assert relay.anon.post("/callbacks/runway/forged", json=envelope).status_code == 403
    assert relay.anon.post(callback, content=b"not json").status_code == 400
    assert relay.anon.post(callback, json=envelope).status_code == 200
    assert relay.anon.post(callback, json=envelope).json()["duplicate"] is True
    # The claim is settled once CometAPI has finished the task too.
    relay.wait_task(
        v2v["id"], lambda t: t["state"] == "succeeded" and t["events"][1]["verdict"] != "pending"
    )

    response = relay.metrics.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    name = "relay_callbacks_total"
    assert metric(text, name, outcome="rejected_bad_signature") == 1
    assert metric(text, name, outcome="rejected_bad_body") == 1
    assert metric(text, name, outcome="confirmed") == 1
    assert metric(text, name, outcome="duplicate") == 1
    assert metric(text, "relay_tasks", state="failed") == 1
    assert metric(text, "relay_tasks", state="succeeded") == 2
    assert metric(text, "relay_submits_total", kind="image_to_video", outcome="accepted") == 2
