"""The server's drain on SIGTERM, signal by signal (no socket: the handlers alone)."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
import uvicorn

from receiver.app.server import _DrainingServer

pytestmark = pytest.mark.unit


async def _app(scope: object, receive: object, send: object) -> None:
    return None


def _server(drain_seconds: float) -> _DrainingServer:
    return _DrainingServer(uvicorn.Config(_app, lifespan="off"), drain_seconds)


def test_sigterm_drains_first_then_the_tick_past_the_drain_stops() -> None:
    server = _server(30)
    server.handle_exit(signal.SIGTERM, None)
    assert server.draining and not server.should_exit
    assert not asyncio.run(server.on_tick(1))  # still serving
    assert server.drain_until is not None
    server.drain_until = time.monotonic() - 1  # the drain is over
    assert asyncio.run(server.on_tick(2)) and server.should_exit


def test_the_drain_begins_once_and_is_logged_once() -> None:
    server = _server(30)
    said: list[str] = []
    server.on_drain = lambda: said.append("draining")
    server.handle_exit(signal.SIGTERM, None)
    asyncio.run(server.on_tick(1))
    asyncio.run(server.on_tick(2))
    assert said == ["draining"]


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_ends_the_drain_at_once(second: signal.Signals) -> None:
    server = _server(30)
    server.handle_exit(signal.SIGTERM, None)
    server.handle_exit(second, None)
    assert server.should_exit


def test_no_drain_stops_at_once_and_sigint_never_drains() -> None:
    server = _server(0)
    server.handle_exit(signal.SIGTERM, None)
    assert server.should_exit
    server = _server(30)
    server.handle_exit(signal.SIGINT, None)
    assert server.should_exit and server.drain_until is None
