"""The benchmarks' other processes: the reference app, a fast sink and a loaded simulator.

python bench/servers.py ref PORT            bare Starlette app, the relay's uvicorn settings
python bench/servers.py floor PORT SIM SINK the three exchanges of a callback and nothing else
python bench/servers.py durable PORT SIM SINK DB  the floor and one synced SQLite write a callback
python bench/servers.py sink PORT [PORT..]  bare ASGI sink, one process on many ports
python bench/servers.py timed-sink PORT     the same, keeping each task's first arrival
python bench/servers.py sim PORT COUNT      CometAPI simulator knowing COUNT running tasks
python bench/servers.py done PORT COUNT     CometAPI simulator knowing the COUNT open tasks, done
python bench/servers.py live PORT           CometAPI simulator whose tasks end in about a second
python bench/servers.py timed PORT          CometAPI simulator, each task as long as its prompt says
python bench/servers.py forever PORT        CometAPI simulator, each task running until ended
"""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from receiver.devtools.simulator import Kind, SimTask, SimulatorConfig, create_simulator_app


def _serve_like_relay(app: Any, port: int) -> None:
    # The same uvicorn.run call as `receiver serve`: one process, default loop and HTTP
    # implementation, no access log, lifespan on.
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=15,
    )


async def _ok(request: Request) -> Response:
    await request.body()
    return JSONResponse({"ok": True})


def reference(port: int) -> None:
    """The ceiling: the callback route's shape, answering 200 with no work at all."""
    routes = [
        Route("/callbacks/runway/{token}", _ok, methods=["POST"]),
        Route("/readyz", _ok, methods=["GET"]),
    ]
    _serve_like_relay(Starlette(routes=routes), port)


class Floor:
    """What a corroborated callback cannot do without, and nothing more: take the callback
    in and answer it, ask the simulator about its task (one pooled aiohttp POST, as the
    relay polls), and POST a small event to the sink (one pooled aiohttp POST, as the
    relay delivers). No store, no signature, no log line: its CPU per callback against the
    bare app's is the least any relay on this stack could reach."""

    def __init__(self, sim_url: str, sink_url: str) -> None:
        self.sim_url, self.sink_url = sim_url, sink_url
        self.http: aiohttp.ClientSession | None = None
        self.running: set[asyncio.Task[None]] = set()

    async def callback(self, request: Request) -> Response:
        task_id = orjson.loads(await request.body())["task_id"]
        job = asyncio.create_task(self.relay(task_id))
        self.running.add(job)
        job.add_done_callback(self.running.discard)
        return JSONResponse({"ok": True})

    async def relay(self, task_id: str) -> None:
        if self.http is None:
            headers = {"Authorization": "Bearer floor"}
            self.http = aiohttp.ClientSession(headers=headers)
        feed = orjson.dumps({"task_id": task_id})
        async with self.http.post(f"{self.sim_url}/runway/feed", data=feed) as answer:
            state = orjson.loads(await answer.read())["data"]["status"]
        event = orjson.dumps({"type": "task.succeeded", "data": {"task_id": task_id, "s": state}})
        async with self.http.post(f"{self.sink_url}/hook", data=event) as answer:
            await answer.read()


class DurableFloor(Floor):
    """The floor and the one durable write a relay cannot do without: each callback's body
    kept in SQLite (WAL, synced at every commit, on a thread of its own as the relay's
    commits are) before its answer goes out. What is left of a relay's budget beyond this
    pays for everything else: the token, the parse, the poll's and the delivery's records,
    the signature, the log lines."""

    def __init__(self, sim_url: str, sink_url: str, db_path: str) -> None:
        super().__init__(sim_url, sink_url)
        self.db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS callbacks (task_id TEXT, body BLOB)")
        self.committer = ThreadPoolExecutor(1, thread_name_prefix="commit")

    def keep(self, task_id: str, body: bytes) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("INSERT INTO callbacks VALUES (?, ?)", (task_id, body))
        self.db.execute("COMMIT")

    async def callback(self, request: Request) -> Response:
        body = await request.body()
        task_id = orjson.loads(body)["task_id"]
        await asyncio.get_running_loop().run_in_executor(self.committer, self.keep, task_id, body)
        job = asyncio.create_task(self.relay(task_id))
        self.running.add(job)
        job.add_done_callback(self.running.discard)
        return JSONResponse({"ok": True})


def floor(port: int, sim_url: str, sink_url: str, db_path: str | None = None) -> None:
    app = Floor(sim_url, sink_url) if db_path is None else DurableFloor(sim_url, sink_url, db_path)
    routes = [
        Route("/callbacks/runway/{token}", app.callback, methods=["POST"]),
        Route("/readyz", _ok, methods=["GET"]),
    ]
    _serve_like_relay(Starlette(routes=routes), port)


class Sink:
    """Counts POSTs per port and remembers when the first and the last one came.

    GET answers the totals (GET /reset zeroes them first); anything else is a delivery.
    """

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.first = 0.0
        self.last = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()  # startup
            await send({"type": "lifespan.startup.complete"})
            await receive()  # shutdown
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["method"] == "GET":
            if scope["path"] == "/reset":
                self.counts, self.first, self.last = {}, 0.0, 0.0
            body = json.dumps(
                {"total": sum(self.counts.values()), "first": self.first, "last": self.last}
            ).encode()
        else:
            while (await receive()).get("more_body"):
                pass
            port = scope["server"][1]
            self.counts[port] = self.counts.get(port, 0) + 1
            self.last = time.time()
            self.first = self.first or self.last
            body = b"{}"
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class TimedSink(Sink):
    """A sink that also keeps when each task's first delivery arrived (GET /times): the end
    of a callback's way through the relay, as the downstream sees it."""

    def __init__(self) -> None:
        super().__init__()
        self.times: dict[str, float] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            if scope.get("path") == "/reset":
                self.times = {}
            if scope.get("path") == "/times":
                body = json.dumps(self.times).encode()
                headers = [(b"content-type", b"application/json")]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await super().__call__(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        now = time.time()
        self.times.setdefault(json.loads(body)["data"]["task_id"], now)
        self.counts[0] = self.counts.get(0, 0) + 1
        self.first, self.last = self.first or now, now
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def sink(ports: list[int], app: Sink | None = None) -> None:
    sockets = []
    for port in ports:
        # IPPROTO_TCP given explicitly: asyncio sets TCP_NODELAY only on sockets whose proto
        # says TCP, and without it every keep-alive answer waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sockets.append(sock)
    config = uvicorn.Config(app or Sink(), log_config=None, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=sockets)


def simulator(port: int, count: int, prefix: str = "poll", running: float = 1e9) -> None:
    """Tasks <prefix>-0000000.. as the filler names them: running for as long as the run
    lasts, or (running 0) finished, with the video the benchmark's callbacks name."""
    config = SimulatorConfig(queued_seconds=0, running_seconds=running, not_exist_seconds=0)
    app = create_simulator_app(config)
    sim = app.state.sim
    # A running task's files are its own; a finished one's are where the benchmark's
    # callbacks say they are (common.py), so that the poll confirms those callbacks.
    cdn = f"http://127.0.0.1:{port}" if running else "http://127.0.0.1:9/runway"
    now, mono = time.time(), time.monotonic()
    for i in range(count):
        task_id = f"{prefix}-{i:07d}"
        kind: Kind = "video2video" if i % 2 or prefix != "poll" else "image_to_video"
        sim.tasks[task_id] = SimTask(
            task_id, kind, "bench", now, mono, 0, running, None, False, 160, cdn
        )
    _serve_like_relay(app, port)


def live(port: int) -> None:
    """Tasks that end soon and call back, as CometAPI does: for callback-to-delivery latency."""
    config = SimulatorConfig(queued_seconds=0.2, running_seconds=0.8, not_exist_seconds=0.1)
    _serve_like_relay(create_simulator_app(config), port)


def timed(port: int) -> None:
    """Tasks that take the time their prompts ask for (receiver/devtools/simulator/model.py)
    and are unknown for their first second, as CometAPI's are for a while."""
    config = SimulatorConfig(queued_seconds=2, running_seconds=20, not_exist_seconds=1)
    _serve_like_relay(create_simulator_app(config), port)


def forever(port: int) -> None:
    """Tasks that start at once and run until the benchmark ends them: `POST /_bench/end`
    with `{"task_ids": [...]}` ends those now and answers each one's callback as CometAPI
    would send it (`url`, `body`), for the benchmark to send when it chooses; the relay's
    poll then finds the task done, as it does in production."""
    config = SimulatorConfig(queued_seconds=0, running_seconds=1e9, not_exist_seconds=0)
    app = create_simulator_app(config)
    sim = app.state.sim

    async def end(request: Request) -> Response:
        ended = []
        for task_id in (await request.json())["task_ids"]:
            task = sim.tasks[task_id]
            task.running_seconds = max(0.0, task.elapsed() - task.queued_seconds)
            body = sim.callback_body(task, "succeeded")
            ended.append({"url": task.callback_url, "body": body})
        return JSONResponse(ended)

    app.add_route("/_bench/end", end, methods=["POST"])
    _serve_like_relay(app, port)


def main() -> None:
    role, *rest = sys.argv[1:]
    if role == "ref":
        reference(int(rest[0]))
    elif role == "floor":
        floor(int(rest[0]), rest[1], rest[2])
    elif role == "durable":
        floor(int(rest[0]), rest[1], rest[2], rest[3])
    elif role == "sink":
        sink([int(p) for p in rest])
    elif role == "timed-sink":
        sink([int(rest[0])], TimedSink())
    elif role == "sim":
        simulator(int(rest[0]), int(rest[1]))
    elif role == "done":
        simulator(int(rest[0]), int(rest[1]), prefix="open", running=0)
    elif role == "live":
        live(int(rest[0]))
    elif role == "timed":
        timed(int(rest[0]))
    elif role == "forever":
        forever(int(rest[0]))
    else:
        raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    main()
