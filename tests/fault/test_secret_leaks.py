"""Secrets that come back from outside never show: a downstream URL given by url_env (a
credential) in a stored error, an API answer or a log line, even when the downstream answers
with something that is not HTTP or quotes its path; the API key when CometAPI quotes it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import closing
from urllib.parse import quote

import pytest

from tests.conftest import MakeRelay
from tests.fault.support import Figures, backend_of
from tests.harness import (
    API_KEY,
    Simulator,
    Sink,
    image_to_video,
    settled,
    video2video,
    wait_for,
)

# PostgreSQL's errors can quote what it was sent: both backends are read.
pytestmark = [pytest.mark.fault, pytest.mark.every_backend]


@pytest.fixture
def not_http() -> Iterator[int]:
    """A server that answers every connection with bytes that are not HTTP, then hangs up."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\nthis is not http\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def test_a_secret_url_never_shows_in_errors_answers_or_logs(
    make_relay: MakeRelay, sim: Simulator, not_http: int, figures: Figures, storage_url: str
) -> None:
    # `%7E` in the URL: clients print it decoded as `~`, which a plain match would miss.
    secret_url = f"http://127.0.0.1:{not_http}/services/T0SECRET/B0SECRET/xox%7Esecret-part"
    relay = make_relay(
        [{"name": "team-chat", "url_env": "CHAT_URL", "format": "slack", "timeout": 2.0}],
        env={"CHAT_URL": secret_url},
        delivery={"retry_schedule": [0.2]},
    )
    task = relay.submit(**video2video()).json()
    done = relay.wait_task(task["id"], settled)
    [delivery] = done["deliveries"]
    assert delivery["state"] == "dead" and delivery["last_error"]
    answers = [
        relay.api.get(f"/v1/tasks/{task['id']}").text,
        relay.api.get("/v1/deliveries").text,
        relay.scrape(),
    ]
    needles = ["T0SECRET", "B0SECRET", "secret-part"]
    places = {"answers": "\n".join(answers), "log": relay.log()}
    leaks = {where: [n for n in needles if n in text] for where, text in places.items()}
    assert leaks == {"answers": [], "log": []}
    figures.record(
        "secret_url_in_errors",
        backend=backend_of(storage_url),
        last_error=delivery["last_error"],
        log_lines=len(places["log"].splitlines()),
        occurrences=0,
    )


# Credentials in the shape each platform gives them (made up here): a Slack webhook's path,
# whose last part is its secret, and a Telegram bot's token, which the Bot API puts in the path.
SLACK_IDS = ("T0A1B2C3D4", "B0E5F6G7H8")
SLACK_SECRET = "xq7Lm2Pz9Rt4" + "Vb8Nc3Wd6Yf1"
SLACK_PATH = f"/services/{SLACK_IDS[0]}/{SLACK_IDS[1]}/{SLACK_SECRET}"
BOT_TOKEN = "7301946528:" + "AAFq3Zr9Lx2Vm8Np4Tk6Wc1Yb5Hd7Js0G"
# Discord's path is long: quoted after Express's page head, it runs past what a delivery
# error keeps of an answer, and a secret cut in half must not survive as its first half.
DISCORD_TOKEN = "Qw3rTy7UiOp1AsDfGh5JkL" + "zXcVbN9mQaWsEdRfTgYhUjIkOlP2mNbVcXzLkJhGfDsAqWe"
DISCORD_PATH = f"/api/webhooks/1190234567890123456/{DISCORD_TOKEN}"
VIDEO = "https://example.invalid/in.mp4"


def _needles() -> dict[str, str]:
    """What must show nowhere, each as given and percent-encoded, by a printable label."""
    secrets = {
        "the API key": API_KEY,
        "the Slack path": SLACK_PATH,
        "the Slack secret": SLACK_SECRET,
        "the Slack team id": SLACK_IDS[0],
        "the Slack hook id": SLACK_IDS[1],
        "the bot token": BOT_TOKEN,
        "the Discord token": DISCORD_TOKEN,
        "the Discord token's first 16 characters": DISCORD_TOKEN[:16],
    }
    found = {}
    for label, secret in secrets.items():
        found[secret] = label
        found.setdefault(quote(secret, safe=""), f"{label}, percent-encoded")
    return found


def test_echoed_keys_and_paths_show_in_no_answer_page_log_or_cli_output(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, figures: Figures, storage_url: str
) -> None:
    relay = make_relay(
        [
            {"name": "team-slack", "url_env": "SLACK_URL", "format": "slack", "timeout": 2.0},
            {"name": "team-bot", "url_env": "BOT_URL", "format": "telegram", "timeout": 2.0},
            {"name": "team-guild", "url_env": "GUILD_URL", "format": "discord", "timeout": 2.0},
        ],
        env={
            "SLACK_URL": f"{sink.url}{SLACK_PATH}",
            "BOT_URL": f"{sink.url}/bot{BOT_TOKEN}",
            "GUILD_URL": f"{sink.url}{DISCORD_PATH}",
        },
    )
    # Every downstream answers as an Express app with no such route: "Cannot POST <path>".
    sink.mode(status=404, express=True)

    # CometAPI refuses the key, quoting it, at submit (the queue's send): tasks submitted
    # through the API and the CLI, which follows its task to the end...
    sim.faults(submit_status=401, submit_status_count=3)
    answers = [relay.submit(**video2video()), relay.submit(**image_to_video())]
    assert [a.status_code for a in answers] == [202, 202]
    submitted = relay.cli("submit", "--wait", "--prompt", "a pan", "--video", VIDEO)
    assert submitted.returncode != 0
    # ...and at a poll (official-format tasks are polled from the start).
    sim.faults(poll_status=401)
    polled = relay.submit(**image_to_video()).json()

    def refused_poll() -> bool:
        return any(
            line.get("event") == "poll.failed" and line.get("task_id") == polled["id"]
            for line in relay.log_lines()
        )

    wait_for(refused_poll)
    sim.faults(poll_status=None)

    tasks = relay.api.get("/v1/tasks").json()["tasks"]
    assert len(tasks) == 4
    for task in tasks:
        relay.wait_task(task["id"], settled)
    deliveries = relay.api.get("/v1/deliveries").json()["deliveries"]
    # The echoes happened: each place below had the chance to show a secret.
    assert len(deliveries) == 3 * 4 and {d["state"] for d in deliveries} == {"dead"}
    assert all("Cannot POST " in d["last_error"] for d in deliveries)
    failed = [relay.task(t["id"]) for t in tasks if t["id"] != polled["id"]]
    assert all("Incorrect API key provided: Bearer " in t["error"] for t in failed)
    assert "Incorrect API key provided: Bearer " in submitted.stderr

    config = str(relay.config_path)
    places: dict[str, str] = {
        "submit answers": "\n".join(a.text for a in answers),
        "GET /v1/tasks": relay.api.get("/v1/tasks").text,
        "GET /v1/deliveries": relay.api.get("/v1/deliveries").text,
        "GET /v1/downstreams": relay.api.get("/v1/downstreams").text,
        "GET /metrics": relay.scrape(),
        "receiver submit": submitted.stdout + submitted.stderr,
        "receiver tasks list": relay.cli("tasks", "list", "--config", config).stdout,
        "receiver deliveries list": relay.cli(
            "deliveries", "list", "--state", "dead", "--config", config
        ).stdout,
        "receiver downstreams list": relay.cli("downstreams", "list", "--config", config).stdout,
    }
    with closing(relay.console()) as console:
        for path in ("/console/", "/console/tasks", "/console/deliveries"):
            page = console.get(path)
            assert page.status_code == 200
            places[f"console {path}"] = page.text
        for task in tasks:
            places[f"GET /v1/tasks/{task['id']}"] = relay.api.get(f"/v1/tasks/{task['id']}").text
            page = console.get(f"/console/tasks/{task['id']}")
            assert page.status_code == 200
            places[f"console task {task['id']}"] = page.text
            # Each CLI run starts a Python process: the table for one task, JSON for each.
            for form in (["--json"], []) if task is tasks[0] else (["--json"],):
                shown = relay.cli("tasks", "show", task["id"], *form, "--config", config)
                places[f"receiver tasks show {task['id']} {form}"] = shown.stdout + shown.stderr
    places["relay log"] = relay.log()

    needles = _needles()
    leaks = {
        where: sorted({label for needle, label in needles.items() if needle in text})
        for where, text in places.items()
    }
    shown = sorted(where for where, found in leaks.items() if found)
    assert not shown, f"secrets shown in: {shown}"
    figures.record(
        "echoed_secrets",
        backend=backend_of(storage_url),
        places_checked=len(places),
        needles=len(needles),
        dead_deliveries_quoting_a_path=len(deliveries),
        refusals_quoting_the_key=len(failed) + 1,
        occurrences=0,
    )
