"""The door's hands on the ASGI messages between uvicorn and the SDK: a body already read
handed over again, what the SDK answered, and its log line for a client that left."""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
from starlette.types import Message, Receive, Send


def replay(body: bytes, receive: Receive) -> Receive:
    """`receive` with the body already read handed over first; then the client's own
    messages (its disconnect, which ends a stream)."""
    handed = False

    async def replayed() -> Message:
        nonlocal handed
        if not handed:
            handed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


class Answer:
    """The `send` of one request to the SDK: what it answered, and nothing more once that
    answer has ended: when a client's DELETE ends the session between the SDK's 202 to a
    notification and its handing over, the SDK's second answer goes nowhere."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status: int | None = None
        self.session: str | None = None
        self.done = False

    @property
    def ok(self) -> bool:
        return self.status is not None and self.status < 400

    async def __call__(self, message: Message) -> None:
        if self.done:
            return
        if message["type"] == "http.response.start":
            self.status = message["status"]
            for name, value in message.get("headers", ()):
                if name.lower() == b"mcp-session-id":
                    self.session = value.decode("latin-1")
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.done = True
        await self._send(message)


class MemoryGivenBack:
    """The pages a large body took, given back to the system once it is answered: glibc
    raises its mapping threshold to the largest block freed, so after the first large body
    the next ones' copies stay on the heap (17 MiB after a flood of 4 MiB bodies).
    `malloc_trim(0)` takes a tenth of a millisecond. Without glibc nothing is done."""

    LARGE = 1024 * 1024

    def __init__(self) -> None:
        self._trim = getattr(ctypes.CDLL(None), "malloc_trim", None)

    @contextmanager
    def after(self, size: int) -> Iterator[None]:
        """Around one request whose body is `size` bytes."""
        try:
            yield
        finally:
            if size >= self.LARGE and self._trim is not None:
                self._trim(0)


class _ClientGone(logging.Filter):
    """The SDK's error line for a request whose session its client ended meanwhile (the
    race above) becomes a debug line: it is the client's leaving, not a fault here."""

    def filter(self, record: logging.LogRecord) -> bool:
        gone = (anyio.ClosedResourceError, anyio.BrokenResourceError)
        if record.exc_info is None or not isinstance(record.exc_info[1], gone):
            return True
        if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        record.msg, record.args = f"{record.getMessage()}: the session had ended", ()
        record.exc_info = record.exc_text = None
        return True


_CLIENT_GONE = _ClientGone()


def quiet_client_gone() -> None:
    sdk = logging.getLogger("mcp.server.streamable_http")
    if _CLIENT_GONE not in sdk.filters:
        sdk.addFilter(_CLIENT_GONE)
