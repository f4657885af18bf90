"""`receiver listen`: an app's events forwarded to a local server, signed (verified with
standardwebhooks and the secret it printed), one line each; a restart resumes after the
last one forwarded; the relay or the local server out of reach is said, then retried."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from standardwebhooks import Webhook

from tests.conftest import MakeRelay
from tests.e2e.test_app_downstreams import _app
from tests.e2e.test_pull import _submit
from tests.harness import Sink, wait_for
from tests.testkit import free_port


class Listening:
    """`receiver listen` running, its output lines gathered as they come."""

    def __init__(self, relay_url: str, key: str, to: str, state: Path) -> None:
        command = [sys.executable, "-m", "receiver", "listen", "--relay", relay_url]
        command += ["--key", key, "--forward-to", to, "--state", str(state)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for text in self.process.stdout:
            self.lines.append(text.rstrip("\n"))

    def said(self, words: str) -> str:
        return wait_for(lambda: next((x for x in self.lines if words in x), None))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def test_listen_forwards_signed_resumes_and_says_what_is_unreachable(
    make_relay: MakeRelay, sink: Sink, tmp_path: Path
):
    relay = make_relay([])
    alpha = _app(relay, "alpha")
    key = alpha.headers["authorization"].removeprefix("Bearer ")
    state = tmp_path / "listen.json"

    nowhere = f"http://127.0.0.1:{free_port()}"
    gone = Listening(nowhere, key, f"{sink.url}/local", state)
    secret = gone.said("signing secret").rsplit(" ", 1)[1]  # printed once, kept for a restart
    gone.said(f"relay at {nowhere} unreachable")
    gone.stop()

    first = Listening(relay.url, key, f"{sink.url}/local", state)
    first.said("forwarding")
    ids = _submit(relay, alpha, 2)
    hits = wait_for(lambda: len(sink.received("/local")) >= 2 and sink.received("/local"))
    for hit in hits:
        Webhook(secret).verify(hit["body"], hit["headers"])
    for task_id in ids:
        first.said(task_id)
    first.stop()

    # Not forwarded while the local server is away: the next run still has it.
    (later,) = _submit(relay, alpha, 1)
    away = f"http://127.0.0.1:{free_port()}/local"
    second = Listening(relay.url, key, away, state)
    second.said(f"local server at {away} unreachable")
    second.stop()
    third = Listening(relay.url, key, f"{sink.url}/local", state)
    third.said(later)
    third.stop()
    forwarded = [Webhook(secret).verify(h["body"], h["headers"]) for h in sink.received("/local")]
    assert sorted(e["data"]["task_id"] for e in forwarded) == sorted([*ids, later])
