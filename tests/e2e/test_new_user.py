"""What a new user meets: a failed task says why in words safe to show (its failure code
and message, as its webhook carried them) in the API and `receiver tasks show`; `tasks
show` prints the relay's copies of the renders; `receiver tail --since` shows every change,
not only where each task ended; the console speaks of the output a task makes and says
which event each delivery carries; `receiver sink` prints what a downstream gets and checks
its signature."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

from tests import forked
from tests.conftest import MakeRelay, webhook
from tests.harness import (
    ADMIN_TOKEN,
    WEBHOOK_SECRET,
    Relay,
    Sink,
    image_to_video,
    settled,
    wait_for,
)
from tests.testkit import free_port

FAILING = "FAIL[SAFETY.INPUT.TEXT] a cat"


def cli(relay: Relay, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RECEIVER_CONFIG"}
    return forked.run([*args, "--config", str(relay.config_path)], env, timeout=60)


def delivered(task: dict[str, Any]) -> bool:
    states = {d["state"] for d in task["deliveries"]}
    return settled(task) and bool(states) and states <= {"succeeded", "dead"}


def test_a_failed_task_says_its_failure_code_and_safe_message(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay([webhook(sink, events=["failed"])])
    task_id = relay.submitted(**image_to_video(promptText=FAILING))["id"]
    task = relay.wait_task(task_id, delivered)
    assert task["state"] == "failed"
    [hit] = sink.accepted("/hook")
    sent = json.loads(hit["body"])["data"]
    assert sent["failure_code"] == "SAFETY.INPUT.TEXT"
    assert (task["failure_code"], task["failure_message"]) == (
        sent["failure_code"],
        sent["failure_message"],
    )
    assert task["failure_message"] and "moderation" in task["failure_message"]

    shown = cli(relay, "tasks", "show", task_id)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"^\s+failure_code: SAFETY\.INPUT\.TEXT$", shown.stdout, re.M)
    assert f"failure_message: {sent['failure_message']}" in shown.stdout
    as_json = json.loads(cli(relay, "tasks", "show", task_id, "--json").stdout)
    assert as_json["failure_code"] == "SAFETY.INPUT.TEXT"
    assert as_json["failure_message"] == sent["failure_message"]

    # A task that did not fail has neither.
    fine = relay.wait_task(relay.submitted(**image_to_video())["id"], settled)
    assert fine["state"] == "succeeded"
    assert (fine["failure_code"], fine["failure_message"]) == (None, None)


def test_tasks_show_prints_the_relays_copies(
    make_relay: MakeRelay, sink: Sink, tmp_path: Path
) -> None:
    relay = make_relay(
        [webhook(sink)],
        media={"enabled": True, "dir": str(tmp_path / "media"), "allow_private_networks": True},
    )
    task = relay.wait_task(relay.submitted(**image_to_video())["id"], delivered)
    copies = [f["url"] for f in task["media"]["files"]]
    assert copies and all(url.startswith(relay.url + "/media/") for url in copies)
    shown = cli(relay, "tasks", "show", task["id"])
    assert shown.returncode == 0, shown.stderr
    [outputs] = [line for line in shown.stdout.splitlines() if line.strip().startswith("outputs:")]
    assert outputs.split(": ", 1)[1].split() == copies
    [links] = [line for line in shown.stdout.splitlines() if "cometapi links:" in line]
    assert links.split(": ", 1)[1].split() == task["outputs"]


def test_tail_since_0_shows_every_change(make_relay: MakeRelay) -> None:
    relay = make_relay()
    task = relay.wait_task(relay.submitted(**image_to_video())["id"], settled)
    moves = [e["state"] for e in task["events"] if e["applied"]]
    # `running` is among them only when a callback or a poll saw it: the simulator may lose
    # the callback and end the task before the first poll.
    assert moves[0] == "queued" and moves[-1] == "succeeded", moves
    env = {**os.environ, "RECEIVER_URL": relay.url, "RECEIVER_ADMIN_TOKEN": ADMIN_TOKEN}
    tail = subprocess.Popen(
        [sys.executable, "-m", "receiver", "tail", "--json", "--since", "0"],
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(tail.stdout or ()), daemon=True).start()

    def states() -> list[str] | None:
        changes = [json.loads(line) for line in list(lines)]
        seen = [c["data"]["state"] for c in changes if c["event"] == "task"]
        return seen if "succeeded" in seen else None

    try:
        seen = wait_for(states)
    finally:
        tail.terminate()
        tail.wait(30)
    assert seen == moves, (seen, moves)


def test_the_console_names_the_output_and_each_deliverys_event(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay([webhook(sink, events=["failed"])])
    body = {"kind": "text_to_image", "model": "gen4_image", "promptText": FAILING}
    task = relay.wait_task(relay.submitted(**body)["id"], delivered)
    [delivery] = task["deliveries"]
    page = relay.console().get(f"/console/tasks/{task['id']}")
    assert page.status_code == 200
    assert "No image for this task." in page.text and "No video" not in page.text
    row = re.search(rf'<tr id="delivery-{delivery["id"]}">(.*?)</tr>', page.text, re.S)
    assert row is not None
    cell = re.search(r'<td class="delivery-event"[^>]*>(.*?)</td>', row.group(1), re.S)
    assert cell is not None and cell.group(1).strip().startswith("failed"), row.group(1)


def test_receiver_sink_prints_each_webhook_and_checks_its_signature(
    make_relay: MakeRelay,
) -> None:
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
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: any("listening on" in line for line in list(printed)))
        downstream = {"name": "hook", "url": f"{url}/hook", "secret_env": "HOOK_SECRET"}
        relay = make_relay([downstream])
        task = relay.wait_task(relay.submitted(**image_to_video())["id"], delivered)
        assert {d["state"] for d in task["deliveries"]} == {"succeeded"}
        forged = httpx.post(
            f"{url}/hook",
            content=b'{"type": "task.succeeded"}',
            headers={
                "webhook-id": "msg_forged",
                "webhook-timestamp": str(int(task["updated_at"])),
                "webhook-signature": "v1,bm90IGEgc2lnbmF0dXJl",
            },
        )
        assert forged.status_code == 401
        wait_for(lambda: any("BAD" in line for line in list(printed)))
    finally:
        sink.terminate()
        sink.wait(30)
    text = "".join(printed)
    assert text.count("signature: ok") == len(task["deliveries"]), text
    assert '"state": "succeeded"' in text and "POST /hook" in text
    assert "signature: BAD: no signature matches the secret" in text
    assert WEBHOOK_SECRET not in text
