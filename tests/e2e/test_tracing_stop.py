"""A stopping relay does not wait on its trace collector: the last spans get at most the
shutdown grace, then the process exits as it always does, and says it cut the flush off.
The collector here accepts connections on loopback and never answers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from tests.conftest import MakeRelay
from tests.harness import image_to_video, wait_for


class SilentCollector:
    """A TCP server that accepts every connection and never reads or answers."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.held: list[socket.socket] = []
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.closed.set()
        self.server.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def silent() -> Iterator[SilentCollector]:
    collector = SilentCollector()
    yield collector
    collector.close()


def test_a_hanging_collector_does_not_hold_the_exit(
    make_relay: MakeRelay, silent: SilentCollector
) -> None:
    endpoint = f"http://user:pw-not-logged@127.0.0.1:{silent.port}"
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        # Spans are only sent when the process stops: the flush has them to send.
        "OTEL_BSP_SCHEDULE_DELAY": "600000",
    }
    plain = make_relay()
    plain.submitted(**image_to_video())
    normal_exit = plain.stop(timeout=60)
    assert not any(line.get("event") == "tracing.on" for line in plain.log_lines())

    traced = make_relay(env=env)
    started = [line for line in traced.log_lines() if line.get("event") == "tracing.on"]
    assert len(started) == 1, traced.log()
    assert started[0]["exports_to"] == f"http://127.0.0.1:{silent.port}/v1/traces"
    assert "pw-not-logged" not in traced.log()
    traced.submitted(**image_to_video())
    # Its spans wait in the exporter's queue: the flush at the stop has them to send, to a
    # collector that takes the connection and never answers.
    assert traced.stop(timeout=60) == normal_exit
    events = [line.get("event") for line in traced.log_lines()]
    assert "service.stopped" in events and "tracing.flush_cut_off" in events, events
    assert wait_for(lambda: silent.held)
