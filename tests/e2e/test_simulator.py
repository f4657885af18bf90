"""The CometAPI simulator itself: its request limits, its callback bodies, forge and DELETE.

The limits and bodies are checked on plain functions and a Simulator object (no server);
one end-to-end test each drives /_sim/forge and DELETE over HTTP on loopback.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.devtools.localserver import BackgroundServer
from receiver.devtools.simulator import (
    SimTask,
    Simulator,
    SimulatorConfig,
    image_to_video_error,
    video2video_error,
    video_to_video_error,
)
from tests.harness import API_KEY, wait_for
from tests.harness import Simulator as SimControl

MEDIA = Path(__file__).parents[2] / "receiver/devtools/simulator/media"
AUTH = {"Authorization": f"Bearer {API_KEY}", "X-Runway-Version": "2024-11-06"}
FLAT_KEYS = {
    "task_id",
    "status",
    "prompt",
    "prompt_en",
    "video_url",
    "poster",
    "last_frame",
    "msg",
    "point",
    "refund",
    "create_time",
    "update_time",
}

# --- request limits ------------------------------------------------------------------------


def v2v(**extra: Any) -> dict[str, Any]:
    return {
        "callback_url": "https://relay.example/callbacks/x",
        "video": "https://example.invalid/in.mp4",
        "prompt": "pixel-art redraw",
        "model": "gen4",
        "options": {"structure_transformation": 0.5, "flip": True},
        **extra,
    }


def official_v2v(**extra: Any) -> dict[str, Any]:
    return {
        "videoUri": "https://example.invalid/in.mp4",
        "promptText": "make it cinematic",
        "seed": 7,
        "model": "gen4_aleph",
        "ratio": "1280:720",
        "references": [{"type": "image", "uri": "https://example.invalid/ref.jpg"}],
        "contentModeration": {"publicFigureThreshold": "auto"},
        **extra,
    }


def i2v(**extra: Any) -> dict[str, Any]:
    return {
        "promptImage": "https://example.invalid/cat.jpg",
        "model": "gen3a_turbo",
        "promptText": "a calm camera move",
        "seed": 1,
        "watermark": False,
        "duration": 5,
        "ratio": "1280:768",
        **extra,
    }


@pytest.mark.parametrize(
    "body",
    [
        v2v(),
        v2v(options={}),
        v2v(prompt="x" * 2000, options={"structure_transformation": 0}),
        v2v(options={"structure_transformation": 1, "flip": False}),
        {k: v for k, v in v2v().items() if k != "options"},
    ],
)
def test_video2video_accepts_values_in_range(body: dict[str, Any]) -> None:
    assert video2video_error(body) is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({k: v for k, v in v2v().items() if k != "callback_url"}, "callback_url_empty"),
        (v2v(callback_url=""), "callback_url_empty"),
        (v2v(callback_url="ftp://relay.example/x"), "callback_url"),
        (v2v(video="file:///etc/passwd"), "video"),
        (v2v(video=None), "video"),
        (v2v(prompt=""), "prompt"),
        (v2v(prompt="x" * 2001), "prompt"),
        (v2v(prompt=7), "prompt"),
        (v2v(model=None), "model"),
        (v2v(options=[1]), "options"),
        (v2v(options={"structure_transformation": 1.01}), "structure_transformation"),
        (v2v(options={"structure_transformation": -0.1}), "structure_transformation"),
        (v2v(options={"structure_transformation": True}), "structure_transformation"),
        (v2v(options={"structure_transformation": "0.5"}), "structure_transformation"),
        (v2v(options={"flip": 1}), "flip"),
    ],
)
def test_video2video_refuses_values_out_of_range(body: dict[str, Any], reason: str) -> None:
    error = video2video_error(body)
    assert error is not None and reason in error


@pytest.mark.parametrize(
    "body",
    [
        official_v2v(),
        official_v2v(videoUri="data:video/mp4;base64,AAAA", seed=0, ratio="720:1280"),
        official_v2v(promptText="x" * 1000, seed=4294967295, references=[]),
        {k: v for k, v in official_v2v().items() if k not in ("seed", "references", "ratio")},
    ],
)
def test_video_to_video_accepts_values_in_range(body: dict[str, Any]) -> None:
    assert video_to_video_error(body) is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (official_v2v(videoUri="http://example.invalid/in.mp4"), "videoUri"),
        (official_v2v(videoUri="data:video/mp4,AAAA"), "videoUri"),
        (official_v2v(promptText="x" * 1001), "promptText"),
        (official_v2v(promptText=""), "promptText"),
        (official_v2v(seed=4294967296), "seed"),
        (official_v2v(seed=-1), "seed"),
        (official_v2v(seed=True), "seed"),
        (official_v2v(seed=1.5), "seed"),
        (official_v2v(seed="7"), "seed"),
        (official_v2v(model="gen4"), "model"),
        (official_v2v(ratio="1280x720"), "ratio"),
        (official_v2v(references=[{"type": "video", "uri": "https://x.invalid/a"}]), "references"),
        (official_v2v(references=[{"type": "image", "uri": "http://x.invalid/a"}]), "references"),
        (official_v2v(references={"type": "image"}), "references"),
        (official_v2v(contentModeration="auto"), "contentModeration"),
    ],
)
def test_video_to_video_refuses_values_out_of_range(body: dict[str, Any], reason: str) -> None:
    error = video_to_video_error(body)
    assert error is not None and reason in error


@pytest.mark.parametrize(
    "body",
    [
        i2v(),
        i2v(promptImage="http://example.invalid/cat.jpg", duration=10, ratio="720:1280"),
        i2v(promptText="x" * 512, seed=999999999, watermark=True),
        i2v(seed=0, ratio="768:1280"),
        {"promptImage": "https://example.invalid/cat.jpg", "model": "gen3a_turbo"},
    ],
)
def test_image_to_video_accepts_values_in_range(body: dict[str, Any]) -> None:
    assert image_to_video_error(body) is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (i2v(promptImage="ftp://example.invalid/cat.jpg"), "promptImage"),
        (i2v(promptImage=None), "promptImage"),
        (i2v(model=""), "model"),
        (i2v(promptText="x" * 513), "promptText"),
        (i2v(promptText=3), "promptText"),
        (i2v(seed=1000000000), "seed"),
        (i2v(seed=-1), "seed"),
        (i2v(seed=False), "seed"),
        (i2v(duration=7), "duration"),
        (i2v(duration=5.0), "duration"),
        (i2v(duration=True), "duration"),
        (i2v(ratio="1280x768"), "ratio"),
        (i2v(ratio="16:9"), "ratio"),
        (i2v(watermark="no"), "watermark"),
    ],
)
def test_image_to_video_refuses_values_out_of_range(body: dict[str, Any], reason: str) -> None:
    error = image_to_video_error(body)
    assert error is not None and reason in error


# --- callback bodies -----------------------------------------------------------------------


HERE = "http://127.0.0.1:9"  # where an offline simulator's files would be: nobody fetches


def offline(seed: int = 3) -> Simulator:
    """A Simulator with no server around it; tasks without callback_url need no event loop."""
    return Simulator(SimulatorConfig(seed=seed))


def test_callbacks_are_flat_by_default() -> None:
    sim = offline()
    task = sim.create_task("video2video", "a cat", HERE)
    body = sim.callback_body(task, "succeeded")
    assert set(body) == FLAT_KEYS
    assert body["task_id"] == task.task_id and body["status"] == "3"
    assert body["video_url"].endswith(".mp4") and body["poster"] and body["last_frame"]
    assert body["msg"] is None and body["refund"] == "0"
    assert body["point"] == str(task.point) and body["point"].isdigit()
    for key in ("create_time", "update_time"):
        assert isinstance(body[key], str) and body[key].isdigit()
    assert int(body["update_time"]) >= int(body["create_time"])


def test_flat_failure_and_progress_bodies() -> None:
    sim = offline()
    task = sim.create_task("video2video", "please FAIL", HERE)
    assert task.failure is not None
    failed = sim.flat(task, "failed")
    assert (failed["status"], failed["msg"], failed["video_url"]) == ("4", task.failure[0], "")
    assert failed["refund"] == failed["point"] == str(task.point)
    running = sim.flat(task, "running")
    assert set(running) == FLAT_KEYS
    assert (running["status"], running["msg"], running["video_url"]) == ("2", None, "")


def test_callback_shape_switches_to_the_envelope() -> None:
    sim = offline()
    task = sim.create_task("video2video", "a cat", HERE)
    sim.set_faults({"callback_shape": "envelope"})
    body = sim.callback_body(task, "succeeded")
    assert set(body) == {"code", "msg", "data", "exec_time"}
    assert body["data"]["task_id"] == task.task_id and body["data"]["status"] == "SUCCESS"
    sim.set_faults({"callback_shape": "flat"})
    assert sim.callback_body(task, "succeeded")["status"] == "3"


@pytest.mark.parametrize("value", ["xml", "", None, 1, ["flat"]])
def test_callback_shape_takes_only_flat_or_envelope(value: object) -> None:
    sim = offline()
    with pytest.raises(ValueError, match="callback_shape"):
        sim.set_faults({"callback_shape": value})
    assert sim.faults.callback_shape == "flat"


def test_forged_body_claims_success_with_attacker_files() -> None:
    sim = offline()
    task = sim.create_task("video2video", "a cat", HERE)
    body = sim.forged(task)
    assert set(body) == FLAT_KEYS
    assert (body["task_id"], body["status"]) == (task.task_id, "3")
    assert body["video_url"] == "https://attacker.invalid/evil.mp4"
    assert body["poster"] == "https://attacker.invalid/evil.png"


def age(task: SimTask, seconds: float) -> None:
    """Move the task's creation back, so its phase is what `seconds` of life make it."""
    task.created_mono = time.monotonic() - seconds


def test_cancel_freezes_an_unfinished_task_and_forgets_a_finished_one() -> None:
    sim = offline()
    queued, running, done = (sim.create_task("image_to_video", "a cat", HERE) for _ in range(3))
    age(running, 0.5)
    age(done, 5)
    assert [sim.cancel(t.task_id) for t in (queued, running, done)] == [True] * 3
    assert sim.official(queued)["status"] == "CANCELLED"
    assert sim.official(queued)["cost"] == {"credits": 0}  # refunded: it never ran
    # Cancelled while RUNNING keeps the charge, as Runway does.
    assert sim.official(running)["cost"] == {"credits": running.point}
    assert sim.feed(running)["data"]["status"] == "CANCELLED"
    assert done.task_id not in sim.tasks
    assert not sim.cancel(done.task_id) and not sim.cancel("no-such-task")
    # A second DELETE of a cancelled task deletes it, like any terminal task.
    assert sim.cancel(queued.task_id) and queued.task_id not in sim.tasks


# --- over HTTP -----------------------------------------------------------------------------


@dataclass
class Hook:
    """A tiny callback receiver on loopback that records every body it gets."""

    url: str
    bodies: list[bytes] = field(default_factory=list)

    def json(self) -> list[Any]:
        return [json.loads(b) for b in list(self.bodies)]


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = BackgroundServer()
    got = Hook(f"{server.url}/hook")

    async def record(request: Request) -> Response:
        got.bodies.append(await request.body())
        return Response(status_code=200)

    server.app = Starlette(routes=[Route("/hook", record, methods=["POST"])])
    server.start()
    yield got
    server.stop()


def submit_v2v(sim: SimControl, hook: Hook) -> str:
    response = sim.http.post(
        "/runway/pro/video2video", json=v2v(callback_url=hook.url), headers=AUTH
    )
    assert response.status_code == 200, response.text
    task_id: str = response.json()["data"]["task_id"]
    return task_id


def test_forge_posts_a_claim_to_the_callback_url(sim: SimControl, hook: Hook) -> None:
    missing = {k: v for k, v in v2v().items() if k != "callback_url"}
    refused = sim.http.post("/runway/pro/video2video", json=missing, headers=AUTH)
    assert refused.status_code == 400 and refused.json()["msg"] == "callback_url_empty"

    task_id = submit_v2v(sim, hook)
    answer = sim.http.post("/_sim/forge", json={"task_id": task_id})
    assert answer.status_code == 200 and answer.json() == {"status": 200}
    [forged] = hook.json()
    assert (forged["task_id"], forged["status"]) == (task_id, "3")
    assert forged["video_url"] == "https://attacker.invalid/evil.mp4"

    custom = {"anything": ["goes", 1]}
    answer = sim.http.post("/_sim/forge", json={"task_id": task_id, "body": custom})
    assert answer.json() == {"status": 200}
    assert hook.json()[1] == custom

    # The real callback follows, flat, once the task is done.
    wait_for(lambda: len(hook.bodies) == 3)
    real = hook.json()[2]
    assert set(real) == FLAT_KEYS and real["status"] == "3"
    assert real["video_url"] == f"{sim.url}/cdn/{task_id}.mp4"
    # The simulator logs a callback once its POST is answered: after the hook has its body.
    kinds = wait_for(
        lambda: [c["kind"] for c in sim.callbacks()] if len(sim.callbacks()) == 3 else None
    )
    assert kinds == ["forged", "forged", "normal"]

    i2v_task = sim.http.post("/runwayml/v1/image_to_video", json=i2v(), headers=AUTH).json()["id"]
    for body in (
        {"task_id": "no-such-task"},
        {"task_id": i2v_task},
        {"task_id": task_id, "body": 1},
    ):
        assert sim.http.post("/_sim/forge", json=body).status_code == 400


def test_delete_cancels_or_forgets_over_http(sim: SimControl, hook: Hook) -> None:
    def get(task_id: str) -> Any:
        return sim.http.get(f"/runwayml/v1/tasks/{task_id}", headers=AUTH)

    def delete(task_id: str, headers: dict[str, str] = AUTH) -> Any:
        return sim.http.delete(f"/runwayml/v1/tasks/{task_id}", headers=headers)

    v2v_task = submit_v2v(sim, hook)
    i2v_task = sim.http.post("/runwayml/v1/image_to_video", json=i2v(), headers=AUTH).json()["id"]
    assert delete(v2v_task, {"Authorization": "Bearer wrong"}).status_code == 401
    cancelled = delete(v2v_task)
    assert (cancelled.status_code, cancelled.content) == (204, b"")

    shown = wait_for(lambda: (r := get(v2v_task)).status_code == 200 and r.json())
    assert shown["status"] == "CANCELLED"
    feed = sim.http.post("/runway/feed", json={"task_id": v2v_task}, headers=AUTH).json()
    assert feed["data"]["status"] == "CANCELLED"

    wait_for(lambda: (r := get(i2v_task)).status_code == 200 and r.json()["status"] == "SUCCEEDED")
    assert delete(i2v_task).status_code == 204
    gone = get(i2v_task)
    assert gone.status_code == 404 and gone.json()["code"] == "task_not_exist"
    assert delete(i2v_task).status_code == 404

    # Past the time the cancelled task would have finished: it sent no callback.
    time.sleep(0.3)
    assert hook.bodies == [] and sim.callbacks() == []
    assert get(v2v_task).json()["status"] == "CANCELLED"


def test_renders_are_served_by_the_simulator_itself(sim: SimControl) -> None:
    """Its output links name the address it was reached at, so fetching a render (as the
    relay does with media copies on) looks no name up beyond loopback."""
    task_id = sim.http.post("/runwayml/v1/image_to_video", json=i2v(), headers=AUTH).json()["id"]

    def succeeded() -> Any:
        answer = sim.http.get(f"/runwayml/v1/tasks/{task_id}", headers=AUTH)
        return answer.status_code == 200 and answer.json()["status"] == "SUCCEEDED" and answer

    [video] = wait_for(succeeded).json()["output"]
    assert video == f"{sim.url}/cdn/{task_id}.mp4"
    fetched = httpx.get(video)
    assert (fetched.status_code, fetched.headers["content-type"]) == (200, "video/mp4")
    assert fetched.content == (MEDIA / "render.mp4").read_bytes()
