"""A small HTTP/1.1 load generator for signed callbacks, run in its own process.

    python bench/loadgen.py --url http://127.0.0.1:PORT --pairs FILE --rate 800 --seconds 10
    python bench/loadgen.py --url ... --pairs FILE --connections 64 --seconds 10   (closed loop)

Open loop (--rate): request i is due at start + i/rate whatever happened before it, and its
latency runs from that due time, so a stall shows up in the percentiles instead of slowing
the generator down (no coordinated omission; what wrk2 does). Closed loop: N connections,
each sending its next request when the previous answer is in (what wrk does; the fallback
when wrk is not installed). Raw asyncio sockets with keep-alive, so the generator itself
stays cheap next to the server it measures. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from common import STATUS, callback_body


class Conn(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buf[:end]).lower()
        at = head.find(b"content-length:")
        stop = head.find(b"\r\n", at)
        length = int(head[at + 15 : stop if stop >= 0 else None]) if at >= 0 else 0
        if len(self.buf) < end + 4 + length:
            return
        del self.buf[: end + 4 + length]
        waiter, self.waiter = self.waiter, None
        if not waiter.done():
            waiter.set_result(int(head[9:12]))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed"))
        self.transport = None

    async def send(self, data: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter


class Pool:
    """Keep-alive connections to one server, opened on demand up to `limit`."""

    def __init__(self, host: str, port: int, limit: int) -> None:
        self.host, self.port, self.limit = host, port, limit
        self.idle: list[Conn] = []
        self.opened = 0
        self.waiters: collections.deque[asyncio.Future[Conn]] = collections.deque()

    async def _open(self) -> Conn:
        self.opened += 1
        try:
            _, conn = await asyncio.get_running_loop().create_connection(Conn, self.host, self.port)
        except OSError:
            self.opened -= 1
            raise
        return conn

    async def acquire(self) -> Conn:
        while self.idle:
            conn = self.idle.pop()
            if conn.transport is not None:
                return conn
            self.opened -= 1
        if self.opened < self.limit:
            return await self._open()
        waiter: asyncio.Future[Conn] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        return await waiter

    def release(self, conn: Conn) -> None:
        if conn.transport is None:
            self.opened -= 1
            if self.waiters:
                asyncio.get_running_loop().create_task(self._replace(self.waiters.popleft()))
        elif self.waiters:
            self.waiters.popleft().set_result(conn)
        else:
            self.idle.append(conn)

    async def _replace(self, waiter: asyncio.Future[Conn]) -> None:
        try:
            waiter.set_result(await self._open())
        except OSError as exc:
            waiter.set_exception(exc)


# Tasks a block, when a task's first callback says running: the block's tasks each get
# their running callback, then each its succeeded one (callback.lua does the same).
BLOCK = 1_000


def task_and_state(k: int, n: int, first_state: str) -> tuple[int, str]:
    """Request k's task (of n) and the state it claims. From `running`, tasks go in blocks,
    each task's running callback a block ahead of its succeeded one, as in production: so
    every stretch of a second or more carries the same mix of the two (the running claim
    brings a poll, the succeeded one is judged by that poll's stored answer). From another
    state, request k is task k's first callback. Beyond a task's first two: history."""
    if first_state != "running":
        return k % n, first_state if k < n else "succeeded"
    block, j = divmod(k, 2 * BLOCK)
    task = block * BLOCK + j % BLOCK
    return task % n, "running" if j < BLOCK and task < n else "succeeded"


def request_maker(
    url: str, pairs: Path, tag: str, first_state: str, offset: int = 0, flat: bool = False
) -> Callable[[int], bytes]:
    """Request k + offset by `task_and_state`. The tag makes every body unique, so none is
    an exact duplicate; the offset lets consecutive runs start on tasks not yet called."""
    parts = urlsplit(url)
    host = parts.netloc.encode()
    rows = [line.split() for line in pairs.read_text().splitlines() if line.strip()]
    n = len(rows)

    def make(k: int) -> bytes:
        k += offset
        task, state = task_and_state(k, n, first_state)
        path, upstream_id = rows[task]
        body = callback_body(upstream_id, state, f"{tag}-{k}", flat).encode()
        return (
            b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (path.encode(), host, len(body), body)
        )

    return make


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.errors = 0

    def report(self, elapsed: float, sent: int) -> dict[str, float | int | dict[str, int]]:
        lat = sorted(self.latencies)

        def pct(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000, 3) if lat else 0

        ok = sum(v for k, v in self.statuses.items() if 200 <= k < 300)
        return {
            "sent": sent,
            "completed": len(lat),
            "ok": ok,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": self.errors,
            "seconds": round(elapsed, 3),
            "rate": round(len(lat) / elapsed, 1) if elapsed else 0,
            "p50_ms": pct(50),
            "p90_ms": pct(90),
            "p99_ms": pct(99),
            "max_ms": round(lat[-1] * 1000, 3) if lat else 0,
        }


async def _one(pool: Pool, stats: Stats, data: bytes, due: float) -> None:
    loop = asyncio.get_running_loop()
    try:
        conn = await pool.acquire()
    except OSError:
        stats.errors += 1
        return
    try:
        status = await conn.send(data)
    except ConnectionError:
        stats.errors += 1
        pool.release(conn)
        return
    stats.latencies.append(loop.time() - due)
    stats.statuses[status] = stats.statuses.get(status, 0) + 1
    pool.release(conn)


async def open_loop(pool: Pool, make: Callable[[int], bytes], rate: float, seconds: float) -> str:
    loop = asyncio.get_running_loop()
    stats = Stats()
    total = int(rate * seconds)
    start = loop.time() + 0.05
    tasks = set()
    for k in range(total):
        due = start + k / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(_one(pool, stats, make(k), due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    return json.dumps(stats.report(loop.time() - start, total))


async def closed_loop(pool: Pool, make: Callable[[int], bytes], conns: int, seconds: float) -> str:
    loop = asyncio.get_running_loop()
    stats = Stats()
    counter = iter(range(10**9))
    deadline = loop.time() + seconds

    async def worker() -> None:
        while loop.time() < deadline:
            await _one(pool, stats, make(next(counter)), loop.time())

    start = loop.time()
    await asyncio.gather(*(worker() for _ in range(conns)))
    return json.dumps(stats.report(loop.time() - start, len(stats.latencies) + stats.errors))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--pairs", type=Path, required=True)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--rate", type=float, help="open loop at this many requests/s")
    p.add_argument("--connections", type=int, default=64, help="closed loop, or the open cap")
    p.add_argument("--tag", default=str(time.time_ns()))
    p.add_argument("--first-state", choices=sorted(STATUS), default="running")
    p.add_argument("--offset", type=int, default=0, help="start at this request number")
    p.add_argument("--flat", action="store_true", help="CometAPI's documented flat body")
    args = p.parse_args()
    parts = urlsplit(args.url)
    make = request_maker(args.url, args.pairs, args.tag, args.first_state, args.offset, args.flat)

    async def run() -> str:
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        if args.rate:
            return await open_loop(Pool(host, port, 1024), make, args.rate, args.seconds)
        return await closed_loop(
            Pool(host, port, args.connections), make, args.connections, args.seconds
        )

    print(asyncio.run(run()), flush=True)


if __name__ == "__main__":
    main()
