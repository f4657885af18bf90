"""The fastest event loop and HTTP parser the platform has: uvloop and httptools where they
install (Linux and macOS wheels), asyncio's own loop and h11 where not. Every process of
the relay (`receiver serve`, `receiver deliver`) runs on the same choice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from receiver.kernel.extras import found

T = TypeVar("T")


def loop_name() -> str:
    """uvicorn's name for the loop: `uvloop`, else `asyncio`."""
    return "uvloop" if found("uvloop") else "asyncio"


def http_name() -> str:
    """uvicorn's name for the HTTP/1.1 parser: `httptools`, else `h11`."""
    return "httptools" if found("httptools") else "h11"


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on the fastest loop."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if loop_name() == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
