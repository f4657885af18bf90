"""`receiver listen` against a relay that answers badly (issue 72): an answer that is no
JSON object is one line, then tried again, never a traceback; an answer of 64 MiB is read up
to 4 MiB and no further, then fewer events are asked for; a terminal's escapes in an event
are never printed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from receiver.devtools.localserver import BackgroundServer
from tests.e2e.test_listen import Listening
from tests.harness import wait_for

pytestmark = pytest.mark.fault

HUGE = 64 * 1024 * 1024
ESCAPED = {
    "type": "task.\x1b]0;owned\x07succeeded",
    "data": {"task_id": "tsk_\x1b[2J\x1b[31mred\x9b1m\u202e", "event_id": "evt_1"},
}


class BadRelay:
    """A relay whose page of events is what `answer` says, and which notes each `limit`
    asked for; and, at /local, the local server events are forwarded to."""

    def __init__(self) -> None:
        self.answer = "text"
        self.limits: list[int] = []
        self.forwarded: list[bytes] = []
        self.server = BackgroundServer(
            Starlette(
                routes=[
                    Route("/v1/downstreams/listen", self._downstream),
                    Route("/v1/downstreams/listen/events", self._events),
                    Route("/local", self._local, methods=["POST"]),
                ]
            )
        )

    async def _local(self, request: Request) -> Response:
        self.forwarded.append(await request.body())
        return Response(status_code=204)

    async def _downstream(self, request: Request) -> Response:
        return JSONResponse({"name": "listen", "format": "pull"})

    async def _events(self, request: Request) -> Response:
        limit = int(request.query_params.get("limit", 0))
        self.limits.append(limit)
        if self.answer == "text":
            return Response("<html>bad gateway</html>", media_type="text/html")
        if self.answer == "array":
            return JSONResponse([1, 2, 3])
        if self.answer == "huge" and limit > 1 and len(self.limits) == 1:
            return StreamingResponse(_huge(), media_type="application/json")
        await asyncio.sleep(0.2)  # a long poll that found nothing for a while
        after = request.query_params.get("after")
        events = [ESCAPED] if self.answer == "escapes" and after is None else []
        return JSONResponse({"data": events, "next": "c1"})


async def _huge() -> AsyncIterator[bytes]:
    yield b'{"data": [{"type": "'
    chunk = b"a" * (1 << 20)
    for _ in range(HUGE >> 20):
        yield chunk
    yield b'"}], "next": "c1"}'


@pytest.fixture
def relay() -> Iterator[BadRelay]:
    bad = BadRelay()
    bad.server.start()
    yield bad
    bad.server.stop()


def _listen(relay: BadRelay, tmp_path: Path) -> Listening:
    url = relay.server.url
    return Listening(url, "key_" + "0" * 40, f"{url}/local", tmp_path)


def _no_traceback(listening: Listening) -> None:
    assert listening.process.poll() is None, listening.lines  # still trying
    listening.stop()
    assert not any("Traceback" in x for x in listening.lines), listening.lines


def test_an_answer_that_is_no_json_object_is_one_line(relay: BadRelay, tmp_path: Path) -> None:
    listening = _listen(relay, tmp_path)
    listening.said("the relay's answer is no JSON object; retrying in 1s")
    relay.answer = "array"
    wait_for(lambda: len([x for x in listening.lines if "no JSON object" in x]) >= 2)
    _no_traceback(listening)


def test_an_answer_of_64_mib_is_read_up_to_4_mib(relay: BadRelay, tmp_path: Path) -> None:
    relay.answer = "huge"
    listening = _listen(relay, tmp_path)
    listening.said("the relay's answer is over 4 MiB: asking for 25 events at a time")
    wait_for(lambda: relay.limits[1:2] == [25])
    _no_traceback(listening)


def test_escapes_in_an_event_are_not_printed(relay: BadRelay, tmp_path: Path) -> None:
    relay.answer = "escapes"
    listening = _listen(relay, tmp_path)
    said = listening.said("tsk_")
    assert "task.succeeded" in said and "tsk_red1m" in said, said
    assert not any(ch in x for x in listening.lines for ch in "\x1b\x07\x9b\u202e")
    # What is forwarded is the event as it came: the local server gets every byte of it.
    [hit] = wait_for(lambda: relay.forwarded or None)
    forwarded: dict[str, Any] = json.loads(hit)
    assert forwarded == ESCAPED
    _no_traceback(listening)
