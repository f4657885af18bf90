"""A Kafka downstream from the API dials only brokers it may: the cluster's metadata names
its brokers, and each is judged as the URL's servers are before the producer connects to
it. Here Tansu (tests/kafka.py) answers for a broker at another port, one no pattern of the
app's allows: it is never dialled, and the attempt says why."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import MakeRelay
from tests.e2e.test_apps import app_key, make_app
from tests.e2e.test_keys import as_key
from tests.harness import image_to_video, wait_for
from tests.kafka import Tansu


class Trap:
    """A listener on loopback that counts the connections it is offered."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.dialled = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return  # closed
            self.dialled += 1
            conn.close()

    def close(self) -> None:
        self.server.close()
        self._thread.join(5)


@pytest.fixture
def trap() -> Iterator[Trap]:
    listening = Trap()
    yield listening
    listening.close()


def test_a_broker_the_cluster_names_outside_the_apps_patterns_is_never_dialled(
    make_relay: MakeRelay, trap: Trap
) -> None:
    tansu = Tansu(advertised=trap.port)
    try:
        pattern = f"kafka://127.0.0.1:{tansu.port}/alpha.*"
        relay = make_relay(delivery={"allowed_targets_by_app": {"alpha": [pattern]}})
        make_app(relay, "alpha")
        scopes = ["tasks:submit", "tasks:read", "downstreams"]
        alpha = as_key(relay, app_key(relay, "alpha", "alpha-key", scopes))
        url = f"kafka://127.0.0.1:{tansu.port}/alpha.events"
        body = {"name": "log", "format": "kafka", "url": url, "idempotent": False}
        made = alpha.post("/v1/downstreams", json={**body, "timeout": 2.0})
        assert made.status_code == 201, made.text
        task = alpha.post("/v1/tasks", json=image_to_video()).json()

        def tried() -> dict[str, Any] | None:
            rows = relay.task(task["id"])["deliveries"]
            return rows[0] if rows and rows[0]["last_error"] else None

        said = wait_for(tried)["last_error"]
        assert said.startswith(f"refused: 127.0.0.1:{trap.port}, a broker"), said
        assert trap.dialled == 0
    finally:
        tansu.stop()
