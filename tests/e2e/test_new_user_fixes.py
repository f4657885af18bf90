"""What a new user met, fixed (issue 61): the simulator takes an SDK upload's `data:` URI
as `promptImage`, as CometAPI does, and a task it fails carries a failure code; `receiver
sink` answers every method, so the docs' transform with `"method": "PUT"` is delivered; a
`video2video` task shows `running` while CometAPI runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from receiver.devtools.simulator.files import served
from tests.conftest import MakeRelay
from tests.e2e.test_sdk import sdk_client
from tests.harness import (
    ADMIN_TOKEN,
    WEBHOOK_SECRET,
    Simulator,
    image_to_video,
    settled,
    terminal,
    video2video,
    wait_for,
)
from tests.testkit import free_port


@pytest.fixture
def printing_sink() -> Iterator[tuple[str, list[str]]]:
    """`receiver sink` as a user runs it, checking signatures: its URL and what it printed."""
    port = free_port()
    env = {**os.environ, "RECEIVER_SINK_SECRET": WEBHOOK_SECRET, "PYTHONUNBUFFERED": "1"}
    printed: list[str] = []
    sink = subprocess.Popen(
        [sys.executable, "-m", "receiver", "sink", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    threading.Thread(target=lambda: printed.extend(sink.stdout or ()), daemon=True).start()
    try:
        wait_for(lambda: any("listening on" in line for line in list(printed)))
        yield f"http://127.0.0.1:{port}", printed
    finally:
        sink.terminate()
        sink.wait(30)


def test_an_sdk_upload_then_image_to_video_succeeds(
    make_relay: MakeRelay, sim: Simulator, tmp_path: Path
) -> None:
    media = {"enabled": True, "dir": str(tmp_path / "media"), "allow_private_sources": True}
    relay = make_relay(media=media)
    picture, _ = served("x.png")
    with sdk_client(relay.url, ADMIN_TOKEN) as client:
        image = client.uploads.create_ephemeral(file=("first-frame.png", picture))
        created = client.image_to_video.create(
            model="gen4_turbo", prompt_image=image.uri, prompt_text="a calm move", ratio="1280:720"
        )

        def finished() -> Any:
            task = client.tasks.retrieve(created.id)
            return task if task.status in ("SUCCEEDED", "FAILED") else None

        task = wait_for(finished)
    assert task.status == "SUCCEEDED", relay.task(created.id)
    [sent] = [t["body"] for t in sim.tasks() if t["kind"] == "image_to_video"]
    assert sent["promptImage"].startswith("data:image/png;base64,")


def test_a_video2video_task_shows_running_while_cometapi_runs_it(make_relay: MakeRelay) -> None:
    # A grace period well past the run, as the shipped one (600 s) is: CometAPI calls back
    # only at the end, so only the relay's asking shows the task running.
    relay = make_relay(polling={"callback_grace_seconds": 60})
    task_id = relay.submitted(**video2video(prompt="queue=0.3 run=4 pixel-art"))["id"]
    # Wait on the condition: the relay shows `running` before the task ends.
    seen = relay.wait_task(task_id, lambda t: t["state"] != "queued")
    assert seen["state"] == "running", seen
    assert relay.wait_task(task_id, terminal)["state"] == "succeeded"


def test_a_failed_video2video_task_carries_its_failure_code(make_relay: MakeRelay) -> None:
    relay = make_relay()
    task_id = relay.submitted(**video2video(prompt="FAIL[SAFETY.INPUT.TEXT] a cat"))["id"]
    task = relay.wait_task(task_id, terminal)
    assert task["state"] == "failed"
    assert task["failure_code"] == "SAFETY.INPUT.TEXT", task


def test_receiver_sink_takes_the_docs_put_transform_and_every_method(
    make_relay: MakeRelay, printing_sink: tuple[str, list[str]]
) -> None:
    url, printed = printing_sink
    downstream = {
        "name": "items",
        "url": f"{url}/items",
        "secret_env": "HOOK_SECRET",
        "events": ["succeeded"],
        # docs/delivery.md's own example of a transform.
        "transform": '{"body": {"state": event.data.state}, "method": "PUT",'
        ' "path": "/" + event.data.task_id}',
    }
    relay = make_relay([downstream])
    task = relay.wait_task(relay.submitted(**image_to_video())["id"], settled)
    [delivery] = task["deliveries"]
    assert (delivery["state"], delivery["attempts"]) == ("succeeded", 1), delivery
    wait_for(lambda: any("signature: ok" in line for line in list(printed)))
    assert f"PUT /items/{task['id']}" in "".join(printed)
    # Any method is answered: these, unsigned, by the signature check's 401, never a 405.
    for method in ("GET", "POST", "PATCH", "DELETE"):
        assert httpx.request(method, f"{url}/anything").status_code == 401, method
