"""Runway's official Node SDK (`@runwayml/sdk`, pinned in tests/sdk_node/) against the relay's
front door: a create-and-wait of each kind below, side by side, end to end to a downstream.
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

from tests.conftest import MakeRelay, webhook
from tests.harness import ADMIN_TOKEN, Sink, wait_for

SDK = Path(__file__).parents[1] / "sdk_node"
KINDS = {
    "image_to_video": "video/mp4",
    "text_to_image": "image/png",
    "text_to_video": "video/mp4",
    "sound_effect": "audio/wav",
}


@pytest.mark.skipif(
    shutil.which("node") is None or not (SDK / "node_modules/@runwayml/sdk").is_dir(),
    reason="no Node.js, or the SDK is not installed (npm ci --prefix tests/sdk_node)",
)
def test_the_node_sdk_creates_and_waits_through_the_relay(
    make_relay: MakeRelay, sink: Sink, tmp_path: Path
) -> None:
    media = {"enabled": True, "dir": str(tmp_path / "media"), "allow_private_sources": True}
    relay = make_relay([webhook(sink)], media=media)
    ran = subprocess.run(
        ["node", "create_and_wait.mjs", f"{relay.url}/runwayml", ADMIN_TOKEN, *KINDS],
        cwd=SDK,
        capture_output=True,
        text=True,
        timeout=180,
        env={"PATH": os.environ["PATH"]},
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    tasks = json.loads(ran.stdout)
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
