"""A downstream answering with a NUL byte. PostgreSQL's text holds no NUL, so an attempt
that kept the answer as is could never be recorded: the delivery stayed pending and the
event went out again on every lease, each time with a `delivery.record_failed` line. The
answer's excerpt (and the error quoting a failed answer) is kept with the NUL replaced, so
the delivery settles after one send, on both backends."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.devtools.localserver import BackgroundServer
from tests.conftest import MakeRelay
from tests.harness import image_to_video, settled

pytestmark = [pytest.mark.fault, pytest.mark.every_backend]


class NulSink:
    """Answers every POST with a body holding NUL: 200 on /ok, 500 on /bad."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()
        self.server = BackgroundServer(
            Starlette(routes=[Route("/{path}", self._answer, methods=["POST"])])
        )

    async def _answer(self, request: Request) -> Response:
        await request.body()
        path = request.path_params["path"]
        with self._lock:
            self.hits[path] = self.hits.get(path, 0) + 1
        status = 200 if path == "ok" else 500
        return Response(b'{"ok":"a\x00b"}\x00', status_code=status, media_type="application/json")


@pytest.fixture
def nul_sink() -> Iterator[NulSink]:
    sink = NulSink()
    sink.server.start()
    yield sink
    sink.server.stop()


def test_an_answer_with_nul_is_recorded_and_the_delivery_settles(
    make_relay: MakeRelay, nul_sink: NulSink
) -> None:
    def downstream(name: str) -> dict[str, object]:
        url = f"{nul_sink.server.url}/{name}"
        return {"name": name, "url": url, "format": "webhook", "timeout": 1.0}

    # A short lease: unrecorded attempts would be claimed and sent again within the wait.
    relay = make_relay(
        [downstream("ok"), downstream("bad")],
        delivery={"retry_schedule": [0.2], "lease_seconds": 2},
    )
    task_id = relay.submit(**image_to_video()).json()["id"]
    task = relay.wait_task(task_id, settled)  # before: "ok" and "bad" stayed pending
    ok = [d for d in task["deliveries"] if d["downstream"] == "ok"]
    bad = [d for d in task["deliveries"] if d["downstream"] == "bad"]
    assert ok and all(d["state"] == "succeeded" for d in ok), ok
    assert bad and all(d["state"] == "dead" for d in bad), bad
    attempts = relay.api.get(f"/v1/tasks/{task_id}").json()["attempts"]
    excerpts = [a["excerpt"] for a in attempts if a["downstream"] == "ok"]
    assert len(excerpts) == len(ok), attempts
    assert all(e == '{"ok":"a\ufffdb"}\ufffd' for e in excerpts), excerpts
    errors = [a["error"] for a in attempts if a["downstream"] == "bad"]
    assert len(errors) == 2 * len(bad), attempts  # the first send and its one retry
    assert all("\x00" not in e and "a\ufffdb" in e for e in errors), errors
    # Each event went once to "ok", and to "bad" once an attempt: none again at a lease.
    assert nul_sink.hits == {"ok": len(ok), "bad": 2 * len(bad)}
    lines = relay.log_lines()
    assert not [line for line in lines if line.get("event") == "delivery.record_failed"]
    assert not [line for line in lines if line.get("level") == "error"], "an error line"
