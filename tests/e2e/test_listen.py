"""`receiver listen`: an app's events forwarded to a local server, signed (verified with
standardwebhooks and the secret it printed), one line each; a restart resumes after the
last one forwarded; the relay or the local server out of reach is said, then retried. Its
state is kept per relay, app and downstream, owner-only, in the user's state directory; a
kept cursor the relay refuses starts it over in one line; the key never on the command
line."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from tests.conftest import MakeRelay
from tests.e2e.test_app_downstreams import _app
from tests.e2e.test_pull import _submit
from tests.harness import WAIT_SECONDS, Sink, wait_for
from tests.testkit import free_port


class Listening:
    """`receiver listen` running in `home` (its working directory, and the state directory
    it is given), the key in its environment, its output lines gathered as they come."""

    def __init__(self, relay_url: str, key: str, to: str, home: Path, *args: str) -> None:
        command = [sys.executable, "-m", "receiver", "listen", "--relay", relay_url]
        command += ["--forward-to", to, *args]
        env = {**os.environ, "RECEIVER_API_KEY": key, "XDG_STATE_HOME": str(home / "state")}
        env.pop("RECEIVER_LISTEN_SECRET", None)
        home.mkdir(exist_ok=True)
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=home
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for text in self.process.stdout:
            self.lines.append(text.rstrip("\n"))

    def said(self, words: str) -> str:
        return wait_for(lambda: next((x for x in self.lines if words in x), None))

    def ended(self) -> int:
        return self.process.wait(WAIT_SECONDS)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def state_file(home: Path) -> Path:
    return home / "state" / "runway-relay" / "listen.json"


def test_listen_forwards_signed_resumes_and_says_what_is_unreachable(
    make_relay: MakeRelay, sink: Sink, tmp_path: Path
):
    relay = make_relay([])
    alpha = _app(relay, "alpha")
    key = alpha.headers["authorization"].removeprefix("Bearer ")

    nowhere = f"http://127.0.0.1:{free_port()}"
    gone = Listening(nowhere, key, f"{sink.url}/local", tmp_path)
    gone.said(f"relay at {nowhere} unreachable")
    gone.stop()

    first = Listening(relay.url, key, f"{sink.url}/local", tmp_path)
    secret = first.said("signing secret").rsplit(" ", 1)[1]  # printed once, kept for a restart
    first.said("forwarding")
    ids = _submit(relay, alpha, 2)
    hits = wait_for(lambda: len(sink.received("/local")) >= 2 and sink.received("/local"))
    for hit in hits:
        event = Webhook(secret).verify(hit["body"], hit["headers"])
        # The webhook-id a delivery of the event carries: its delivery's id, never its own.
        delivered = [d["id"] for d in relay.task(event["data"]["task_id"])["deliveries"]]
        assert hit["headers"]["webhook-id"] in delivered, (hit["headers"], delivered)
    for task_id in ids:
        first.said(task_id)
    first.stop()

    # Not forwarded while the local server is away: the next run still has it.
    (later,) = _submit(relay, alpha, 1)
    away = f"http://127.0.0.1:{free_port()}/local"
    second = Listening(relay.url, key, away, tmp_path)
    second.said(f"local server at {away} unreachable")
    second.stop()
    third = Listening(relay.url, key, f"{sink.url}/local", tmp_path)
    third.said(later)
    third.stop()
    forwarded = [Webhook(secret).verify(h["body"], h["headers"]) for h in sink.received("/local")]
    assert sorted(e["data"]["task_id"] for e in forwarded) == sorted([*ids, later])
    assert not any("signing secret" in x for x in third.lines)  # the kept one


def test_the_state_is_kept_per_relay_and_downstream_owner_only_and_a_refused_cursor_starts_over(
    make_relay: MakeRelay, sink: Sink, tmp_path: Path
):
    relay = make_relay([])
    alpha = _app(relay, "alpha")
    key = alpha.headers["authorization"].removeprefix("Bearer ")
    home = tmp_path / "home"
    first = Listening(relay.url, key, f"{sink.url}/one", home)
    first.said("forwarding")
    (task_id,) = _submit(relay, alpha, 1)
    first.said(task_id)
    first.stop()
    # In the user's state directory, readable by its owner alone; nothing in the project's.
    kept = state_file(home)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert [p.name for p in home.iterdir()] == ["state"]

    # Another downstream of the same app, with the same state: its own cursor, from its start.
    other = Listening(relay.url, key, f"{sink.url}/two", home, "--downstream", "other")
    other.said("forwarding")
    (later,) = _submit(relay, alpha, 1)
    other.said(later)
    other.stop()
    assert len(json.loads(kept.read_text())["entries"]) == 2

    # A kept cursor the relay refuses (here, altered): one line, and it reads from the start.
    entries = json.loads(kept.read_text())["entries"]
    for entry in entries.values():
        entry["after"] = "not-a-cursor"
    kept.write_text(json.dumps({"entries": entries}))
    again = Listening(relay.url, key, f"{sink.url}/three", home)
    again.said("refused the kept cursor")
    again.said(task_id)
    again.stop()
    assert not any("Traceback" in x for x in again.lines)


def test_the_key_is_never_an_argument(tmp_path: Path):
    for option, variable in (("--key", "RECEIVER_API_KEY"), ("--secret", "RECEIVER_LISTEN_SECRET")):
        done = subprocess.run(
            [sys.executable, "-m", "receiver", "listen", option, "whsec_abc", "--relay", "x"],
            capture_output=True,
            text=True,
            timeout=WAIT_SECONDS,
            cwd=tmp_path,
        )
        assert done.returncode == 2
        [said] = done.stderr.splitlines()
        assert variable in said and "whsec_abc" not in said, said


class _HtmlPage(BaseHTTPRequestHandler):
    """A web server that is no relay: a page of HTML whatever is asked."""

    def do_GET(self) -> None:
        page = b"<!doctype html><title>Welcome</title><p>It works!</p>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads the command's output, not the server's."""


@pytest.fixture
def html_server() -> Iterator[str]:
    with ThreadingHTTPServer(("127.0.0.1", 0), _HtmlPage) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{server.server_address[1]}"
        server.shutdown()


def test_a_server_that_is_no_relay_is_said_at_once(tmp_path: Path, html_server: str) -> None:
    listening = Listening(html_server, "rk_test_key", "http://127.0.0.1:9/hooks", tmp_path)
    try:
        assert listening.ended() == 1, listening.lines
    finally:
        if listening.process.poll() is None:
            listening.stop()
    wait_for(lambda: any("is not a relay" in x for x in listening.lines))
    said = [x for x in listening.lines if x.startswith("receiver:")]
    assert said == [
        f"receiver: {html_server} is not a relay: it answered 200 without a relay's JSON"
        " to GET /v1/downstreams/listen"
    ], listening.lines
    assert not any("retrying" in x for x in listening.lines)
