"""Runway's ephemeral uploads through the relay, as its Python SDK makes them
(`uploads.create_ephemeral`): the file kept in the relay's media store, a `runway://` URI
answered, and a create naming it sent to CometAPI with the file as a data URI, kept once."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import httpx
import pytest
from runwayml import BadRequestError, NotFoundError

from receiver.devtools.simulator.files import served
from tests.conftest import MakeRelay
from tests.e2e.test_sdk import sdk_client
from tests.harness import ADMIN_TOKEN, Simulator

RUNWAY = {"X-Runway-Version": "2024-11-06"}


def test_an_upload_then_a_create_naming_it(
    make_relay: MakeRelay, sim: Simulator, tmp_path: Path
) -> None:
    media = {"enabled": True, "dir": str(tmp_path / "media"), "allow_private_sources": True}
    relay = make_relay(media=media)
    clip, _ = served("x.mp4")
    picture, _ = served("x.png")
    (tmp_path / "clip.mp4").write_bytes(clip)
    with sdk_client(relay.url, ADMIN_TOKEN) as client:
        video = client.uploads.create_ephemeral(file=tmp_path / "clip.mp4")
        image = client.uploads.create_ephemeral(file=("face.png", picture))
        assert video.uri.startswith("runway://relay/")
        task = client.video_to_video.create(
            model="aleph2",
            video_uri=video.uri,
            prompt_text="make it snow",
            references=[{"type": "image", "uri": "https://example.invalid/ref.jpg"}],
        ).wait_for_task_output()
        still = client.text_to_image.create(
            model="gen4_image",
            prompt_text="a lighthouse",
            ratio="1024:1024",
            reference_images=[{"uri": image.uri}],
        ).wait_for_task_output()
    assert task.status == still.status == "SUCCEEDED"
    bodies = {t["kind"]: t["body"] for t in sim.tasks()}
    sent = bodies["video_to_video"]["videoUri"]
    assert sent == "data:video/mp4;base64," + base64.b64encode(clip).decode()
    assert bodies["text_to_image"]["referenceImages"][0]["uri"].startswith("data:image/png;")
    # Kept once with the task, shown as its reference, never as the file.
    kept = relay.task(task.id)["request"]["videoUri"]["data_uri"]
    assert kept["type"] == "video/mp4" and kept["bytes"] == len(clip)
    assert kept["sha256"] == hashlib.sha256(sent.encode()).hexdigest()
    # A file of another type than its name says is refused at the upload.
    with sdk_client(relay.url, ADMIN_TOKEN) as client:
        with pytest.raises(Exception, match="400"):
            client.uploads.create_ephemeral(file=("fake.png", b"#!/bin/sh\n"))
        with pytest.raises(BadRequestError, match="filename"):
            client.uploads.create_ephemeral(file=("notes.txt", b"hello"))
        with pytest.raises(BadRequestError, match="runway:// URI is not valid"):
            client.video_to_video.create(
                model="aleph2", video_uri=video.uri + "x", prompt_text="make it snow"
            )


def test_uploads_belong_to_their_key_and_need_the_media_store(
    make_relay: MakeRelay, tmp_path: Path
) -> None:
    media = {"enabled": True, "dir": str(tmp_path / "media"), "allow_private_sources": True}
    relay = make_relay(media=media)
    keys = [
        relay.api.post(
            "/v1/keys", json={"name": n, "scopes": ["tasks:submit", "tasks:read"]}
        ).json()["key"]
        for n in ("one", "two")
    ]
    picture, _ = served("x.png")
    with sdk_client(relay.url, keys[0]) as one, sdk_client(relay.url, keys[1]) as two:
        uploaded = one.uploads.create_ephemeral(file=("face.png", picture))
        with pytest.raises(BadRequestError, match="another API key"):
            two.image_upscale.create(model="magnific_precision_upscaler_v2", image_uri=uploaded.uri)
        one.image_upscale.create(model="magnific_precision_upscaler_v2", image_uri=uploaded.uri)
    started = relay.api.post(
        "/runwayml/v1/uploads", json={"filename": "a.png"}, headers=RUNWAY
    ).json()
    forged = started["uploadUrl"][:-3] + "abc"
    assert httpx.post(forged, files={"file": ("a.png", picture)}).status_code == 403


def test_uploads_need_the_media_store(make_relay: MakeRelay) -> None:
    relay = make_relay()
    picture, _ = served("x.png")
    with (
        sdk_client(relay.url, ADMIN_TOKEN) as client,
        pytest.raises(NotFoundError, match="media store"),
    ):
        client.uploads.create_ephemeral(file=("face.png", picture))
