"""`receiver submit`, `receiver tail`: the command line as a client of a running relay.

End to end against one relay process (SQLite, the simulator serving its own files, media
copied) with the commands run as processes; then the parts that need no network alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from receiver.cli.remote import (
    EventReader,
    ServerEvent,
    change_line,
    output_urls,
    progress_line,
    submit_body,
)
from receiver.runway_api.models import models_of
from tests import forked
from tests.conftest import relay_env
from tests.harness import (
    ADMIN_TOKEN,
    SECRETS,
    Relay,
    Simulator,
    image_to_video,
    relay_settings,
    wait_for,
)
from tests.testkit import free_port

VIDEO = "https://example.invalid/in.mp4"
Done = subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    tmp = tmp_path_factory.mktemp("cli")
    sim = Simulator.serve(seed=5)
    port = free_port()
    settings = relay_settings(
        f"sqlite:///{tmp / 'relay.db'}",
        f"http://127.0.0.1:{port}",
        sim.url,
        media={"enabled": True, "dir": str(tmp / "media"), "allow_private_networks": True},
    )
    started = Relay(tmp, settings, relay_env())
    try:
        yield started.start()
    finally:
        started.close()
        sim.close()
    assert not [s for s in SECRETS if s in started.log()]


def receiver(
    relay: Relay, *args: str, token: str = ADMIN_TOKEN
) -> subprocess.CompletedProcess[str]:
    return forked.run(list(args), _env(relay, token), timeout=60)


def _env(relay: Relay, token: str) -> dict[str, str]:
    return {**os.environ, "RECEIVER_URL": relay.url, "RECEIVER_ADMIN_TOKEN": token}


def test_submit_waits_and_prints_the_copies(relay: Relay) -> None:
    done = receiver(relay, "submit", "--prompt", "a slow pan", "--video", VIDEO, "--wait")
    assert done.returncode == 0, done.stderr
    links = done.stdout.split()
    assert links and all(link.startswith(f"{relay.url}/media/") for link in links)
    assert all(httpx.get(link).status_code == 200 for link in links)
    # Not a terminal: one plain progress line a change, ending at 100 %.
    assert "100%  succeeded" in done.stderr.splitlines()[-1]


def test_a_failed_task_exits_1_with_its_reason(relay: Relay) -> None:
    done = receiver(
        relay,
        "submit",
        "--kind",
        "image_to_video",
        "--image",
        VIDEO,
        "--model",
        "gen4_turbo",
        "--prompt",
        "FAIL",
        "--wait",
    )
    assert done.returncode == 1
    assert done.stdout == ""
    [last] = done.stderr.splitlines()[-1:]
    assert last.startswith("receiver: task tsk_") and " failed: " in last


@pytest.mark.parametrize(
    ("args", "content_type"),
    [
        (
            [
                "--kind",
                "text_to_image",
                "--prompt",
                "a lighthouse format=webp",
                "--body",
                '{"ratio": "1024:1024", "seedance": {"style": "flat"}}',
            ],
            "image/webp",
        ),
        (["--kind", "voice_isolation", "--audio", "https://example.invalid/v.mp3"], "audio/wav"),
    ],
    ids=["image", "audio"],
)
def test_submit_takes_every_kind_of_the_table(
    relay: Relay, args: list[str], content_type: str, tmp_path: Path
) -> None:
    if "--body" in args:  # from a file, as @FILE
        spec = tmp_path / "body.json"
        spec.write_text(args[args.index("--body") + 1])
        args[args.index("--body") + 1] = f"@{spec}"
    model = models_of(args[1])[0]  # a model the route takes, as CometAPI checks
    done = receiver(relay, "submit", *args, "--model", model, "--wait", "--json")
    assert done.returncode == 0, done.stderr
    task = json.loads(done.stdout)
    assert task["kind"] == args[1] and task["state"] == "succeeded"
    if args[1] == "text_to_image":
        assert task["request"] == {
            "ratio": "1024:1024",
            "seedance": {"style": "flat"},
            "promptText": "a lighthouse format=webp",
            "model": model,
        }
    else:
        assert task["request"] == {"audioUri": "https://example.invalid/v.mp3", "model": model}
    [link] = output_urls(task)
    copy = httpx.get(link)
    assert copy.status_code == 200 and copy.headers["content-type"] == content_type


def test_tasks_list_and_show_in_json(relay: Relay) -> None:
    task_id = relay.submit(**image_to_video(promptText="listed")).json()["id"]
    config = str(relay.config_path)
    listed = receiver(relay, "tasks", "list", "--json", "--config", config)
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert rows[0]["id"] == task_id and rows[0]["prompt"] == "listed"
    assert rows[0]["app"] is None  # the operator's own task
    shown = receiver(relay, "tasks", "show", task_id, "--json", "--config", config)
    assert json.loads(shown.stdout)["request"]["promptText"] == "listed"


def test_tail_prints_each_change(relay: Relay) -> None:
    # From a time before the submit: the command may connect after the task has ended.
    since = str(time.time())
    tail = subprocess.Popen(
        [sys.executable, "-m", "receiver", "tail", "--json", "--since", since],
        env={**_env(relay, ADMIN_TOKEN), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(tail.stdout or ()), daemon=True)
    reader.start()
    try:
        task_id = relay.submit(**image_to_video()).json()["id"]

        def seen() -> bool:
            changes = [json.loads(line) for line in list(lines)]
            return any(
                c["event"] == "task"
                and c["data"]["id"] == task_id
                and c["data"]["state"] == "succeeded"
                for c in changes
            )

        wait_for(seen)
    finally:
        tail.send_signal(signal.SIGINT)
        tail.wait(30)
    assert tail.returncode == 0
    assert "Traceback" not in (tail.stderr.read() if tail.stderr else "")


def test_errors_are_one_line(relay: Relay) -> None:
    wrong = receiver(relay, "submit", "--prompt", "x", "--video", VIDEO, token="not-the-token")
    assert wrong.returncode != 0 and wrong.stdout == ""
    assert wrong.stderr.splitlines() == [
        "receiver: the relay refused the admin token (401): check $RECEIVER_ADMIN_TOKEN"
    ]
    refused = receiver(relay, "submit", "--prompt", "x", "--video", "ftp://nowhere")
    assert refused.returncode != 0 and len(refused.stderr.splitlines()) == 1
    assert "422" in refused.stderr and "video" in refused.stderr
    down = subprocess.run(
        [sys.executable, "-m", "receiver", "tail", "--url", f"http://127.0.0.1:{free_port()}"],
        env=_env(relay, ADMIN_TOKEN),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert down.returncode != 0
    [line] = down.stderr.splitlines()
    assert line.startswith("receiver: cannot reach the relay at http://127.0.0.1:")


def test_keys_made_listed_and_revoked(relay: Relay) -> None:
    made = receiver(relay, "keys", "create", "cli-app", "--scope", "tasks:read")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("rr_") and "not shown again" in made.stderr
    listed = receiver(relay, "keys", "list")
    assert "cli-app" in listed.stdout and "tasks:read" in listed.stdout
    assert key not in listed.stdout
    # The app's key may not make or list keys.
    refused = receiver(relay, "keys", "list", token=key)
    assert refused.returncode != 0 and "403" in refused.stderr
    assert receiver(relay, "keys", "revoke", "cli-app").returncode == 0
    gone = receiver(relay, "keys", "list", token=key)
    assert gone.returncode != 0 and "401" in gone.stderr

    limited = ("keys", "create", "cli-limited", "--scope", "tasks:submit", "--max-queued", "3")
    made = receiver(relay, *limited, "--max-per-day", "50")
    assert made.returncode == 0 and "max_queued 3, max_per_day 50" in made.stderr, made.stderr
    assert "max_queued 3, max_per_day 50" in receiver(relay, "keys", "list").stdout
    zero = receiver(relay, "keys", "create", "cli-zero", "--scope", "admin", "--max-queued", "0")
    assert zero.returncode != 0 and "--max-queued" in zero.stderr


# Without a network.


def test_event_reader_follows_the_standard() -> None:
    reader = EventReader()
    stream = [
        "retry: 1000",
        "",
        ": keep-alive",
        "",
        "id: 1.5 tsk_1",
        "event: task",
        'data: {"id":',
        'data: "tsk_1"}',
        "",
        "data:no space",
        "",
    ]
    events = [e for line in stream if (e := reader.feed(line)) is not None]
    assert events == [
        ServerEvent("task", '{"id":\n"tsk_1"}', "1.5 tsk_1"),
        ServerEvent("message", "no space", "1.5 tsk_1"),
    ]
    assert reader.retry_ms == 1000 and reader.last_id == "1.5 tsk_1"


def test_progress_and_change_lines() -> None:
    assert progress_line({"state": "running", "progress": 0.5}, width=10) == (
        "[#####.....]  50%  running"
    )
    assert progress_line({"state": "queued", "progress": None}, width=4) == "[....]   -   queued"
    waiting = {"state": "queued", "progress": None, "submission": "waiting", "queue_position": 3}
    assert progress_line(waiting, width=4) == (
        "[....]   -   queued, waiting to be sent (#3 in line)"
    )
    assert progress_line({"state": "succeeded", "progress": 0.9}, width=4) == (
        "[####] 100%  succeeded"
    )
    task = {"id": "tsk_1", "kind": "video2video", "state": "running", "progress": 0.25}
    assert change_line(ServerEvent("task", "", None), task).endswith(
        "task     tsk_1  video2video  running 25%"
    )
    attempt = {
        "task_id": "tsk_1",
        "downstream": "hook",
        "number": 2,
        "status": 503,
        "latency_ms": 12.4,
        "outcome": "retry",
        "finished_at": 0,
        "error": "HTTP 503",
    }
    assert change_line(ServerEvent("attempt", "", None), attempt).endswith(
        "attempt  tsk_1  -> hook #2  HTTP 503  12 ms  retry  HTTP 503"
    )


def test_submit_bodies_and_outputs() -> None:
    assert submit_body("video2video", "p", VIDEO, "gen4", None) == {
        "kind": "video2video",
        "video": VIDEO,
        "prompt": "p",
        "model": "gen4",
    }
    assert submit_body("video_to_video", "p", VIDEO, None, None) == {
        "kind": "video_to_video",
        "videoUri": VIDEO,
        "promptText": "p",
    }
    # The kind's own fields as JSON, then the options in the fields the table names.
    fields = '{"kind": "x", "ratio": "1:1", "referenceImages": [{"uri": "https://a.invalid/r"}]}'
    assert submit_body("text_to_image", "a cat", None, "gen4_image", fields) == {
        "kind": "text_to_image",
        "ratio": "1:1",
        "referenceImages": [{"uri": "https://a.invalid/r"}],
        "promptText": "a cat",
        "model": "gen4_image",
    }
    assert submit_body("voice_isolation", None, VIDEO, "m", None)["audioUri"] == VIDEO
    with pytest.raises(ValueError, match="no prompt field of its own"):
        submit_body("voice_isolation", "p", None, None, None)
    with pytest.raises(ValueError, match="no source field of its own"):
        submit_body("text_to_image", None, VIDEO, None, None)
    with pytest.raises(ValueError, match="--body is not JSON"):
        submit_body("text_to_image", None, None, None, "{ratio")
    with pytest.raises(ValueError, match="JSON object"):
        submit_body("text_to_image", None, None, None, "[1]")
    with pytest.raises(ValueError, match="--kind"):
        submit_body("text_to_hologram", None, None, None, None)
    copied: dict[str, Any] = {
        "outputs": ["https://cdn/x.mp4"],
        "media": {"status": "mirrored", "files": [{"url": "http://relay/media/a"}]},
    }
    assert output_urls(copied) == ["http://relay/media/a"]
    assert output_urls({**copied, "media": None}) == ["https://cdn/x.mp4"]
