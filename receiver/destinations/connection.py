"""One connection per downstream, opened on first use, reused, and opened again with
backoff after the broker went away: a broker that is down costs each attempt one refused
connect at most, and never more than one connect at a time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar
from urllib.parse import urlsplit

from receiver.destinations.publishing import BrokerTarget
from receiver.kernel.errors import DownstreamError
from receiver.kernel.net.guard import PrivateAddress

C = TypeVar("C")
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0


def next_backoff(previous: float | None) -> float:
    """The wait before the next connect after one more failed."""
    return FIRST_BACKOFF if previous is None else min(MAX_BACKOFF, previous * 2)


def judged(target: BrokerTarget, connect: Callable[[], Awaitable[C]]) -> Callable[[], Awaitable[C]]:
    """`connect`, after the server of the target's URL is judged, each time."""
    judge = target.judge
    if judge is None:
        return connect
    parts = urlsplit(target.url)

    async def judged_connect() -> C:
        try:
            await judge(parts.hostname or "", parts.port or 0)
        except PrivateAddress as exc:
            raise DownstreamError(f"refused: {exc}") from None
        return await connect()

    return judged_connect


class Reconnecting(Generic[C]):
    def __init__(
        self,
        connect: Callable[[], Awaitable[C]],
        close: Callable[[C], Awaitable[None]],
        timeout: float,
    ) -> None:
        self._connect, self._close, self._timeout = connect, close, timeout
        self._conn: C | None = None
        self._lock = asyncio.Lock()
        self._backoff: float | None = None
        self._next_try = 0.0
        self._last_error = ""

    async def get(self) -> C:
        if self._conn is not None:
            return self._conn
        async with self._lock:
            if self._conn is not None:
                return self._conn
            wait = self._next_try - time.monotonic()
            if wait > 0:
                raise DownstreamError(f"{self._last_error} (next connect in {wait:.1f} s)")
            try:
                async with asyncio.timeout(self._timeout):
                    self._conn = await self._connect()
            except Exception as exc:
                # The publisher's own words say what went wrong (a refusal, a setting).
                said = isinstance(exc, DownstreamError)
                self._last_error = describe(exc) if said else f"cannot connect: {describe(exc)}"
                self._backoff = next_backoff(self._backoff)
                self._next_try = time.monotonic() + self._backoff
                raise DownstreamError(self._last_error) from None
            self._backoff = None
            return self._conn

    async def drop(self, conn: C) -> None:
        """Forget a connection that failed; the next publish opens a new one."""
        if self._conn is conn:
            self._conn = None
            await self._quietly_close(conn)

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await self._quietly_close(conn)

    async def _quietly_close(self, conn: C) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._close(conn)
        except Exception:  # closing what is already broken: nothing to tell
            return


class Connected(Generic[C]):
    """A client on one `Reconnecting` connection, `_conn`."""

    _conn: Reconnecting[C]

    async def broken(self, conn: C, exc: Exception) -> DownstreamError:
        """Why a publish failed on `conn`, dropped: the next publish opens another."""
        await self._conn.drop(conn)
        return DownstreamError(f"publish failed: {describe(exc)}")

    async def close(self) -> None:
        await self._conn.close()


def _refusal_in(exc: BaseException) -> PrivateAddress | None:
    seen: BaseException | None = exc
    for _ in range(8):  # a chain is short; a cycle is not followed
        if seen is None or isinstance(seen, PrivateAddress):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def describe(exc: BaseException) -> str:
    """A client library's failure in words that never carry the URL (it may hold a
    password); the address guard's refusal is met anywhere in the chain (a library wraps
    its resolver's errors)."""
    if isinstance(exc, DownstreamError):
        return exc.detail
    if (refused := _refusal_in(exc)) is not None:
        return f"refused: {refused}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, TimeoutError):
        return "timed out"
    return type(exc).__name__
