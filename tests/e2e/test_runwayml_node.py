"""Runway's official Node SDK (`@runwayml/sdk`, pinned in tests/sdk_node/) against the relay's
front door: a create-and-wait of each kind below, side by side, end to end to a downstream;
an upload named in a create; a route the relay's table does not know, passed through.
`.ci/run` installs the SDK when Node.js and npm are on the machine; without them this test
skips and says so."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from receiver.devtools.simulator.files import served
from tests.conftest import MakeRelay, webhook
from tests.harness import ADMIN_TOKEN, Simulator, Sink, wait_for

SDK = Path(__file__).parents[1] / "sdk_node"
KINDS = {
    "image_to_video": "video/mp4",
    "text_to_image": "image/png",
    "text_to_video": "video/mp4",
    "sound_effect": "audio/wav",
}
MORE = ("upload", "video_to_hdr")


@pytest.mark.skipif(
    shutil.which("node") is None or not (SDK / "node_modules/@runwayml/sdk").is_dir(),
    reason="no Node.js, or the SDK is not installed (npm ci --prefix tests/sdk_node)",
)
def test_the_node_sdk_creates_and_waits_through_the_relay(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, tmp_path: Path
) -> None:
    media = {"enabled": True, "dir": str(tmp_path / "media"), "allow_private_sources": True}
    relay = make_relay([webhook(sink)], media=media)
    picture = tmp_path / "face.png"
    picture.write_bytes(served("face.png")[0])
    ran = subprocess.run(
        ["node", "create_and_wait.mjs", f"{relay.url}/runwayml", ADMIN_TOKEN, *KINDS, *MORE],
        cwd=SDK,
        capture_output=True,
        text=True,
        timeout=180,
        env={"PATH": os.environ["PATH"], "UPLOAD_FILE": str(picture)},
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    tasks = json.loads(ran.stdout)
    more = {kind: tasks.pop(kind) for kind in MORE}
    assert all(task["status"] == "SUCCEEDED" and task["output"] for task in more.values())
    assert relay.task(more["video_to_hdr"]["id"])["kind"] == "video_to_hdr"
    upscaled = relay.task(more["upload"]["id"])
    assert upscaled["kind"] == "image_upscale"
    assert upscaled["request"]["imageUri"]["data_uri"]["type"] == "image/png"
    sent = {task["kind"]: task["body"] for task in sim.tasks()}
    assert sent["image_upscale"]["imageUri"].startswith("data:image/png;base64,")
    ids = {task["id"] for task in tasks.values()}
    for kind, task in tasks.items():
        assert task["status"] == "SUCCEEDED" and task["output"], kind
        assert relay.task(task["id"])["kind"] == kind
        copy = httpx.get(task["output"][0])  # the relay's own copy, by then
        assert copy.headers["content-type"] == KINDS[kind], kind

    def delivered() -> set[str] | None:
        documents = [json.loads(h["body"])["data"] for h in sink.accepted("/hook")]
        done = {d["task_id"] for d in documents if d["state"] == "succeeded" and d["media"]}
        return done if ids <= done else None

    wait_for(delivered)
