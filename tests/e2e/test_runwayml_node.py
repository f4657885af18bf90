"""Runway's official Node SDK (`@runwayml/sdk`, pinned in tests/sdk_node/) against the relay's
front door: one create-and-wait, end to end to a downstream. `.ci/run` installs the SDK when
Node.js and npm are on the machine; without them this test skips and says so."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import MakeRelay, webhook
from tests.harness import ADMIN_TOKEN, Sink, wait_for

SDK = Path(__file__).parents[1] / "sdk_node"


@pytest.mark.skipif(
    shutil.which("node") is None or not (SDK / "node_modules/@runwayml/sdk").is_dir(),
    reason="no Node.js, or the SDK is not installed (npm ci --prefix tests/sdk_node)",
)
def test_the_node_sdk_creates_and_waits_through_the_relay(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay([webhook(sink)])
    ran = subprocess.run(
        ["node", "create_and_wait.mjs", f"{relay.url}/runwayml", ADMIN_TOKEN],
        cwd=SDK,
        capture_output=True,
        text=True,
        timeout=180,
        env={"PATH": os.environ["PATH"]},
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    task = json.loads(ran.stdout)
    assert task["status"] == "SUCCEEDED" and task["output"]
    assert relay.task(task["id"])["state"] == "succeeded"
    hits = wait_for(lambda: sink.accepted("/hook") or None)
    assert {json.loads(h["body"])["data"]["task_id"] for h in hits} == {task["id"]}
