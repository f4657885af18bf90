"""Every task-creating route of Runway's SDK through the relay's front door, as its users
call them (the official Python SDK, strict response validation, no retries): each create is
a relay task, waited for with the SDK's own `wait_for_task_output`, its output read, and its
result delivered downstream with the output copied under its own content type.

The same table of kinds (receiver/lifecycle/rules/task.py) drives the front door, the client
and the
simulator, so a kind added there and to `CREATES` here is covered end to end.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from runwayml import BadRequestError, RunwayML

from receiver.lifecycle.rules.task import FRONT_DOOR, KINDS
from tests.conftest import MakeRelay, webhook
from tests.e2e.test_sdk import sdk_client
from tests.harness import ADMIN_TOKEN, Simulator, Sink, wait_for

IMAGE = "https://example.invalid/face.png"
VIDEO = "https://example.invalid/clip.mp4"
AUDIO = "https://example.invalid/voice.mp3"

# One create per route, with the fields Runway's SDK (5.x) requires for it.
CREATES: dict[str, Callable[[RunwayML], Any]] = {
    "image_to_video": lambda c: c.image_to_video.create(
        model="gen4.5", prompt_image=IMAGE, prompt_text="a slow pan", ratio="1280:720", duration=5
    ),
    "video_to_video": lambda c: c.video_to_video.create(
        model="aleph2", video_uri=VIDEO, prompt_text="make it snow"
    ),
    "text_to_video": lambda c: c.text_to_video.create(
        model="gen4.5", prompt_text="a lighthouse at dusk", ratio="1280:720", duration=5
    ),
    "text_to_image": lambda c: c.text_to_image.create(
        model="gen4_image_turbo",
        prompt_text="a thumbnail of a lighthouse",
        ratio="1024:1024",
        reference_images=[{"uri": IMAGE}],
    ),
    "character_performance": lambda c: c.character_performance.create(
        model="act_two",
        character={"type": "image", "uri": IMAGE},
        reference={"type": "video", "uri": VIDEO},
    ),
    "video_upscale": lambda c: c.video_upscale.create(
        model="magnific_video_upscaler_creative", video_uri=VIDEO
    ),
    "image_upscale": lambda c: c.image_upscale.create(
        model="magnific_precision_upscaler_v2", image_uri=IMAGE
    ),
    "sound_effect": lambda c: c.sound_effect.create(model="seed_audio", prompt_text="rain"),
    "text_to_speech": lambda c: c.text_to_speech.create(model="seed_audio", prompt_text="hello"),
    "speech_to_speech": lambda c: c.speech_to_speech.create(
        model="eleven_multilingual_sts_v2",
        media={"type": "audio", "uri": AUDIO},
        voice={"type": "runway-preset", "preset_id": "Maya"},
    ),
    "voice_dubbing": lambda c: c.voice_dubbing.create(
        model="eleven_voice_dubbing", audio_uri=AUDIO, target_lang="fr"
    ),
    "voice_isolation": lambda c: c.voice_isolation.create(
        model="eleven_voice_isolation", audio_uri=AUDIO
    ),
    "video_to_audio": lambda c: c.video_to_audio.create(
        model="mirelo_sfx_2_0", video_uri=VIDEO, prompt_text="footsteps", duration=5
    ),
}
CONTENT_TYPE = {"video": "video/mp4", "image": "image/png", "audio": "audio/wav"}


def test_every_front_door_kind_has_an_sdk_create() -> None:
    assert set(CREATES) == set(FRONT_DOOR)


@pytest.mark.parametrize("wrapped", [False, True], ids=["plain", "wrapped"])
def test_every_sdk_create_is_waited_for_read_and_delivered_with_its_copy(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, tmp_path: Path, wrapped: bool
) -> None:
    sim.faults(wrapped_answers=wrapped)  # CometAPI's answers plain, or in {code, data}
    media = {"enabled": True, "dir": str(tmp_path / "media"), "allow_private_sources": True}
    relay = make_relay([webhook(sink)], media=media)
    with sdk_client(relay.url, ADMIN_TOKEN) as client:
        created = {kind: create(client).id for kind, create in CREATES.items()}
        # The SDK's wait sleeps about 6 s before each look: the waits run side by side.
        with ThreadPoolExecutor(len(created)) as pool:
            waits = {
                kind: pool.submit(lambda i: client.tasks.retrieve(i).wait_for_task_output(), i)
                for kind, i in created.items()
            }
        for kind, task_id in created.items():
            assert relay.task(task_id)["kind"] == kind
            done = waits[kind].result()
            assert done.status == "SUCCEEDED", (kind, done)
            assert done.output and done.output[0].startswith(f"{relay.url}/media/")
            copy = httpx.get(done.output[0], headers={"Range": "bytes=0-3"})
            assert copy.status_code == 206, kind
            assert copy.headers["content-type"] == CONTENT_TYPE[KINDS[kind].output], kind
        # The fields the table names for a prompt and a source (what the console's form and
        # `receiver submit` fill in) are the ones Runway's SDK sends, and reach CometAPI.
        bodies = {task["kind"]: task["body"] for task in sim.tasks()}
        for kind in CREATES:
            named = {KINDS[kind].prompt, KINDS[kind].source} - {None}
            assert named <= set(bodies[kind]), (kind, named, bodies[kind])
        # What the relay knows of the organization, valid for the SDK's strict models.
        usage = client.organization.retrieve().usage.models
        assert usage["gen4.5"].daily_generations == 2  # image_to_video and text_to_video
        assert usage["seed_audio"].daily_generations == 2  # sound_effect and text_to_speech
        assert sum(model.daily_generations for model in usage.values()) == len(CREATES)

    def delivered() -> dict[str, dict[str, Any]] | None:
        documents = [json.loads(hit["body"])["data"] for hit in sink.accepted("/hook")]
        done = {d["task_id"]: d for d in documents if d["state"] == "succeeded"}
        return done if set(created.values()) <= set(done) else None

    documents = wait_for(delivered)
    for kind, task_id in created.items():
        document = documents[task_id]
        assert document["output_type"] == KINDS[kind].output
        files = document["media"]["files"]
        assert files[0]["role"] == KINDS[kind].output
        assert files[0]["content_type"] == CONTENT_TYPE[KINDS[kind].output]


def test_a_route_cometapi_does_not_serve_is_its_refusal_and_a_failed_task(
    make_relay: MakeRelay, sim: Simulator
) -> None:
    sim.faults(unserved_routes="voice_isolation")
    relay = make_relay()
    with sdk_client(relay.url, ADMIN_TOKEN) as client:
        with pytest.raises(BadRequestError) as refused:
            CREATES["voice_isolation"](client)
        assert "POST /runwayml/v1/voice_isolation" in str(refused.value)
    (task,) = relay.api.get("/v1/tasks").json()["tasks"]
    assert task["kind"] == "voice_isolation" and task["state"] == "failed"
    assert "voice_isolation" in task["error"]


@pytest.mark.parametrize("kind", ["generate", "act_one"])
def test_cometapis_callback_routes_are_kinds_of_the_api(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, kind: str
) -> None:
    relay = make_relay([webhook(sink)])
    body = {"kind": kind, "model": "gen4", "prompt": "a cat", "options": {"seconds": 5}}
    answer = relay.api.post("/v1/tasks", json=body)
    assert answer.status_code == 202, answer.text
    submitted = answer.json()
    assert submitted["callback_url"].startswith(relay.url)
    done = wait_for(
        lambda: (
            relay.task(submitted["id"])
            if relay.task(submitted["id"])["state"] == "succeeded"
            else None
        )
    )
    assert done["outputs"] and done["request"] == {
        "model": "gen4",
        "prompt": "a cat",
        "options": {"seconds": 5},
    }
    verdicts = {e["verdict"] for e in done["events"] if e["source"] == "callback"}
    assert verdicts <= {"confirmed", "pending"} and verdicts
