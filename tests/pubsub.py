"""Google's Pub/Sub emulator on loopback for the `pubsub` destination's tests: `gcloud beta
emulators pubsub start` (Java), on a free port, in a process group of its own (gcloud starts
the Java server as its child: stopping it ends both), waited on until it logs that it has
started. Where gcloud is not installed, a test that needs it skips, saying so in one line.

A topic and its subscription are made through the emulator's REST API, the one the relay
publishes with; its messages are pulled back and acknowledged, each checked as it is read
(tests/event_schemas.py) unless made `shaped=True`. The emulator keeps everything in memory:
one restarted has no topic until `PubsubTopic.make` makes it again."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.brokers import checked, unique
from tests.testkit import free_port

PROJECT = "relay-tests"
START_SECONDS = 90.0  # Java's start, on a loaded machine
# Its first answers load classes: at a load of 20, a topic's creation took more than 10 s.
ANSWER_SECONDS = 60.0


def gcloud() -> str:
    """gcloud's path; the test skips where it is not installed."""
    found = shutil.which("gcloud")
    if found is None:
        pytest.skip("gcloud is not installed: no Pub/Sub emulator to test against")
    return found


class Emulator:
    """The emulator listening on `port` (a restart keeps it)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.data = tempfile.TemporaryDirectory()  # gcloud writes its env.yaml there
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def host(self) -> str:
        """What PUBSUB_EMULATOR_HOST says."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> None:
        log = Path(self.data.name) / "emulator.log"
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    gcloud(),
                    "beta",
                    "emulators",
                    "pubsub",
                    "start",
                    f"--host-port={self.host}",
                    f"--data-dir={self.data.name}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: stop() ends gcloud and Java alike
                env={**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"},
            )
        deadline = time.monotonic() + START_SECONDS
        while b"Server started" not in log.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                said = log.read_bytes().decode(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"the Pub/Sub emulator did not start: {said}")
            time.sleep(0.1)

    def stop(self) -> None:
        """End gcloud and its Java server, the group this started."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        # Java may outlive gcloud by a moment: the port is free once nothing listens there.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url, timeout=0.5)
            except httpx.TransportError:
                return
            time.sleep(0.1)

    def close(self) -> None:
        self.stop()
        self.data.cleanup()


@dataclass
class Received:
    attributes: dict[str, str]
    data: bytes
    ordering_key: str
    message_id: str


class PubsubTopic:
    """A topic of its own name, with a subscription (message ordering on) that reads it."""

    def __init__(self, emulator: Emulator, shaped: bool = False) -> None:
        self.emulator = emulator
        self.name = f"relay-test-{unique()}"
        self.shaped = shaped
        self.topic = f"projects/{PROJECT}/topics/{self.name}"
        self.subscription = f"projects/{PROJECT}/subscriptions/{self.name}"
        self.url = f"pubsub://{self.topic}"
        self.kept: list[Received] = []
        self.make()

    def make(self) -> None:
        api = self.emulator.url
        httpx.put(f"{api}/v1/{self.topic}", timeout=ANSWER_SECONDS).raise_for_status()
        wanted = {"topic": self.topic, "enableMessageOrdering": True}
        httpx.put(
            f"{api}/v1/{self.subscription}", json=wanted, timeout=ANSWER_SECONDS
        ).raise_for_status()

    def messages(self) -> list[Received]:
        """Every message read so far (each pulled once, and acknowledged), oldest first."""
        api = f"{self.emulator.url}/v1/{self.subscription}"
        while True:
            pulled = httpx.post(
                f"{api}:pull",
                json={"maxMessages": 100, "returnImmediately": True},
                timeout=ANSWER_SECONDS,
            )
            pulled.raise_for_status()
            received = pulled.json().get("receivedMessages", [])
            if not received:
                return list(self.kept)
            for r in received:
                m = r["message"]
                data = base64.b64decode(m.get("data", ""))
                attributes = m.get("attributes", {})
                checked(f"Pub/Sub topic {self.name}", attributes, data, self.shaped)
                found = Received(attributes, data, m.get("orderingKey", ""), m["messageId"])
                self.kept.append(found)
            ack = {"ackIds": [r["ackId"] for r in received]}
            httpx.post(f"{api}:acknowledge", json=ack, timeout=ANSWER_SECONDS).raise_for_status()
