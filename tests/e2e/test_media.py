"""Finished renders are copied before their links expire, and served back signed.

A simulator serving a real MP4 and PNG, and images and sounds of every other format Runway
returns, from its own address (receiver/devtools/simulator/files.py) stands in for the
provider's CDN; the relay copies them to a local directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from receiver.devtools.simulator.files import served
from receiver.lifecycle.rules.task import KINDS
from receiver.runway_api.models import models_of
from tests.conftest import MakeRelay, webhook
from tests.harness import Relay, Simulator, Sink, image_to_video, metric
from tests.testkit import to_toml

RENDER = Path(__file__).parents[2] / "receiver/devtools/simulator/media/render.mp4"


@pytest.fixture
def cdn_sim() -> Iterator[Simulator]:
    sim = Simulator.serve(seed=11)
    yield sim
    sim.close()


def relay_with_media(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, tmp_path: Path, **media: Any
) -> Relay:
    return make_relay(
        [webhook(sink)],
        upstream={"base_url": sim.url},
        media={"enabled": True, "dir": str(tmp_path / "media"), "allow_private_networks": True}
        | media,
    )


def delivered(task: dict[str, Any]) -> bool:
    """Ended, and every delivery attempted (a `mirroring` one waits for its files)."""
    states = {d["state"] for d in task["deliveries"]}
    return task["state"] == "succeeded" and bool(states) and states <= {"succeeded", "dead"}


def delivered_media(sink: Sink) -> dict[str, Any]:
    [hit] = sink.accepted("/hook")
    media: dict[str, Any] = json.loads(hit["body"])["data"]["media"]
    return media


def test_a_render_is_mirrored_byte_for_byte_and_served_with_range(
    make_relay: MakeRelay, cdn_sim: Simulator, sink: Sink, tmp_path: Path
) -> None:
    relay = relay_with_media(make_relay, cdn_sim, sink, tmp_path)
    task = relay.wait_task(relay.submit(**image_to_video()).json()["id"], delivered)
    media = delivered_media(sink)
    assert media["status"] == "mirrored"
    [video] = [f for f in media["files"] if f["role"] == "video"]
    original = RENDER.read_bytes()
    assert (video["bytes"], video["sha256"], video["content_type"]) == (
        len(original),
        hashlib.sha256(original).hexdigest(),
        "video/mp4",
    )
    assert video["source"] == task["outputs"][0]  # the original link stays beside it
    whole = httpx.get(video["url"])
    assert whole.status_code == 200 and whole.content == original
    assert whole.headers["content-type"] == "video/mp4" and whole.headers["etag"]
    part = httpx.get(video["url"], headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == original[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(original)}"
    # Unsigned, tampered or foreign tokens serve nothing.
    token = video["url"].rsplit("/", 1)[1]
    # One signature character changed, away from the end: the last base64 character
    # carries padding bits, and a change there alone may decode to the same signature.
    at = len(token) - 5
    tampered = token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]
    for bad in ("nothing", tampered, token.split(".")[0]):
        assert relay.anon.get(f"/media/{bad}").status_code == 403
    text = relay.scrape()
    assert metric(text, "relay_media_files_total", outcome="mirrored") == len(media["files"])
    stored = sum(f["bytes"] for f in media["files"])
    assert metric(text, "relay_media_stored_bytes") == stored


# Each image and sound format Runway's routes return: the kind that makes it, the prompt
# that has the simulator serve it, and its content type.
FORMATS = {
    "png": ("text_to_image", "image/png"),
    "jpg": ("text_to_image", "image/jpeg"),
    "webp": ("text_to_image", "image/webp"),
    "mp3": ("sound_effect", "audio/mpeg"),
    "wav": ("sound_effect", "audio/wav"),
    "ogg": ("sound_effect", "audio/ogg"),
}


def test_every_image_and_sound_format_is_mirrored_and_served_with_its_type_and_range(
    make_relay: MakeRelay, cdn_sim: Simulator, sink: Sink, tmp_path: Path
) -> None:
    relay = relay_with_media(make_relay, cdn_sim, sink, tmp_path)
    made = {
        suffix: relay.submit(
            kind=kind, model=models_of(kind)[0], promptText=f"x format={suffix}"
        ).json()["id"]
        for suffix, (kind, _) in FORMATS.items()
    }
    for suffix, task_id in made.items():
        kind, content_type = FORMATS[suffix]
        task = relay.wait_task(task_id, delivered)
        role = KINDS[kind].output
        [copy] = [f for f in task["media"]["files"] if f["role"] == role]
        original, served_as = served(f"x.{suffix}")
        assert (copy["content_type"], copy["bytes"], served_as) == (
            content_type,
            len(original),
            content_type,
        ), suffix
        whole = httpx.get(copy["url"])
        assert whole.status_code == 200 and whole.content == original, suffix
        assert whole.headers["content-type"] == content_type, suffix
        part = httpx.get(copy["url"], headers={"Range": "bytes=4-11"})
        assert part.status_code == 206 and part.content == original[4:12], suffix
        assert part.headers["content-range"] == f"bytes 4-11/{len(original)}", suffix
        assert part.headers["content-type"] == content_type, suffix
        # The relay's own copy is what the event and Runway's task object name.
        runway = relay.api.get(
            f"/runwayml/v1/tasks/{task_id}", headers={"X-Runway-Version": "2024-11-06"}
        ).json()
        assert runway["output"] == [copy["url"]], suffix


def test_an_expired_link_is_renewed_from_cometapi_then_copied(
    make_relay: MakeRelay, cdn_sim: Simulator, sink: Sink, tmp_path: Path
) -> None:
    cdn_sim.faults(cdn_status=403, cdn_status_count=1)  # the first fetch finds it expired
    relay = relay_with_media(make_relay, cdn_sim, sink, tmp_path)
    relay.wait_task(relay.submit(**image_to_video()).json()["id"], delivered, timeout=60)
    assert delivered_media(sink)["status"] == "mirrored"
    retried = [x for x in relay.log_lines() if x.get("event") == "media.retry"]
    assert retried and "expired" in retried[0]["reason"]
    assert retried[0]["links_renewed"] is True  # CometAPI was asked for the task again
    assert metric(relay.scrape(), "relay_media_files_total", outcome="expired") == 1


def test_too_large_goes_out_with_the_original_links_and_the_reason(
    make_relay: MakeRelay, cdn_sim: Simulator, sink: Sink, tmp_path: Path
) -> None:
    relay = relay_with_media(make_relay, cdn_sim, sink, tmp_path, max_bytes=1000)
    task = relay.wait_task(relay.submit(**image_to_video()).json()["id"], delivered)
    media = delivered_media(sink)
    assert media["status"] == "failed" and "over the limit of 1000" in media["reason"]
    event = json.loads(sink.accepted("/hook")[0]["body"])["data"]
    assert event["outputs"] == task["outputs"]


def test_private_addresses_are_refused_unless_allowed(
    make_relay: MakeRelay, cdn_sim: Simulator, sink: Sink, tmp_path: Path
) -> None:
    relay = relay_with_media(make_relay, cdn_sim, sink, tmp_path, allow_private_networks=False)
    relay.wait_task(relay.submit(**image_to_video()).json()["id"], delivered)
    media = delivered_media(sink)
    assert media["status"] == "failed" and "private or local address" in media["reason"]
    assert cdn_sim.stats()["cdn_requests"] == 0  # refused before any connection


def test_prune_removes_copies_older_than_the_retention(tmp_path: Path) -> None:
    folder = tmp_path / "media"
    (folder / "tsk_old").mkdir(parents=True)
    (folder / "tsk_new").mkdir()
    old, new = folder / "tsk_old/video-0.mp4", folder / "tsk_new/video-0.mp4"
    old.write_bytes(b"x" * 10)
    new.write_bytes(b"y" * 20)
    month_ago = time.time() - 31 * 86400
    os.utime(old, (month_ago, month_ago))
    config = tmp_path / "relay.toml"
    config.write_text(to_toml({"media": {"dir": str(folder), "retention_days": 30}}))
    done = subprocess.run(
        [sys.executable, "-m", "receiver", "media", "prune", "--config", str(config)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "removed 1 file, 10 bytes" in done.stdout and "20 bytes kept" in done.stdout
    assert not old.exists() and not old.parent.exists() and new.exists()


def test_a_file_that_is_not_a_video_or_image_is_not_kept(
    make_relay: MakeRelay, cdn_sim: Simulator, sink: Sink, tmp_path: Path
) -> None:
    cdn_sim.faults(cdn_html=True)  # an error page where the render should be
    relay = relay_with_media(make_relay, cdn_sim, sink, tmp_path)
    relay.wait_task(relay.submit(**image_to_video()).json()["id"], delivered)
    media = delivered_media(sink)
    assert media["status"] == "failed"
    assert media["reason"] == "content type text/html is not a video, an image or audio"
    assert not list((tmp_path / "media").glob("*/*"))  # nothing kept, not even a part
