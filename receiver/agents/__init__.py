"""The agents' door: `/mcp`, the relay as a Model Context Protocol server (server.py),
reaching no further than the HTTP API. Only server.py imports the SDK, at the door's first
request: importing it costs more CPU than the rest of the app's start, which a relay no
agent calls would pay for nothing.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from receiver.kernel.extras import installed

if TYPE_CHECKING:
    from receiver.agents.server import AgentsDoor
    from receiver.config import Settings
    from receiver.downstreams.directory import Directory
    from receiver.kernel.observability.logs import Log
    from receiver.kernel.secrets.tokens import MediaLinks
    from receiver.kernel.store import Store
    from receiver.keys.bearers import Keys
    from receiver.shares.links import ShareSigner
    from receiver.stream.changes import ChangeHub
    from receiver.tasks.actions import Canceller
    from receiver.tasks.submit import Intake
    from receiver.wiring.worker_parts import WorkerParts

PATH = "/mcp"
Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


@dataclass(frozen=True)
class ToolParts:
    """What the door and its tools use, made at start-up. Here, not in calls.py: that
    imports the whole HTTP API, which mounting the door must not."""

    store: Store  # what the tools read tasks from
    log: Log
    intake: Intake  # what `submit_task` takes a task in with
    canceller: Canceller  # what `cancel_task` cancels with
    changes: ChangeHub  # what `wait_for_task` waits on
    media_links: MediaLinks  # what reads the images a task's view shows inline
    share_signer: ShareSigner  # what `share_task` signs its links with
    keys: Keys  # who a request's bearer token is
    directory: Directory  # every downstream: a cancel's events go to their subscribers
    settings: Settings  # the door's own (`mcp`), the server's, and where media is kept
    public_url: str  # where the relay is reached from outside (its links start with it)
    workers: WorkerParts  # what `replay_delivery` wakes the fan-out with


class Door:
    """The ASGI app mounted at /mcp: the SDK's door (server.py), opened at the first request
    and run until the application's lifespan ends (`around`)."""

    def __init__(self, parts: ToolParts) -> None:
        self.parts = parts
        self._door: AgentsDoor | None = None
        self._opening = asyncio.Lock()
        self._held: asyncio.Task[None] | None = None  # holds the SDK's session manager open
        self._closing = asyncio.Event()
        self._closed = False

    def around(self, inner: Lifespan | None) -> Lifespan:
        """The application's lifespan, with the door's sessions ended before it stops the
        workers."""

        @asynccontextmanager
        async def both(app: Any) -> AsyncIterator[None]:
            async with inner(app) if inner is not None else nullcontext():
                try:
                    yield
                finally:
                    await self._close()

        return both

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        door = self._door or await self._open()
        if door is None:
            error = {"code": -32600, "message": "unavailable: the relay is shutting down"}
            await JSONResponse({"jsonrpc": "2.0", "id": None, "error": error}, 503)(
                scope, receive, send
            )
            return
        await door(scope, receive, send)

    async def _open(self) -> AgentsDoor | None:
        async with self._opening:
            if self._door is None and not self._closed:
                # The SDK's import takes a good part of a second: on a thread, so the
                # relay's other requests are not held while it loads.
                server = await asyncio.to_thread(importlib.import_module, "receiver.agents.server")
                door: AgentsDoor = server.AgentsDoor(self.parts)
                opened = asyncio.get_running_loop().create_future()
                self._held = asyncio.create_task(self._hold(door, opened), name="mcp-sessions")
                await opened
                self._door = door
        return self._door

    async def _hold(self, door: AgentsDoor, opened: asyncio.Future[None]) -> None:
        """The SDK's session manager, open from the first request until the lifespan ends
        (its task group is entered and left in this one task)."""
        try:
            async with door.running():
                opened.set_result(None)
                await self._closing.wait()
        except Exception as exc:
            if opened.done():
                raise  # at the lifespan's end, where `_close` awaits this task
            opened.set_exception(exc)  # to the request that opened it

    async def _close(self) -> None:
        async with self._opening:  # a door being opened is opened first, then closed
            self._closed = True
            self._closing.set()
            if self._held is not None:
                await self._held


def agents_door(parts: ToolParts) -> Door | None:
    """The door over the `parts` its tools use, or None when it is not mounted."""
    mode = parts.settings.mcp.enabled
    if mode == "off" or (mode == "auto" and not installed("mcp")):
        return None
    return Door(parts)
