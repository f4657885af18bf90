"""The fan-out built alone from the few parts it takes: a SQLite store in a temporary
folder, the delivery settings, a directory of one downstream (a fake) and a log that keeps
its lines; no service, no configuration file, no relay. The downstream is a small HTTP
server on loopback: one task's success is sent to it, signed, and recorded as delivered.
Beside a lane with a backlog, a downstream with no lane is found by the next tick's claim."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from receiver.config import Downstream, Settings
from receiver.deliveries import reads
from receiver.deliveries.fanout.lanes import Busy, Lane, with_rows_due
from receiver.deliveries.fanout.worker import Fanout
from receiver.downstreams.subscribers import subscription
from receiver.kernel.observability.metrics import Metrics
from receiver.kernel.store import Store, open_store
from receiver.lifecycle.handoff import DeliveryHandoff
from receiver.lifecycle.rows.tasks.intake import create_task
from receiver.lifecycle.rules.records import NewTask, Work
from receiver.lifecycle.rules.task import Observation
from receiver.lifecycle.transactions.observe import Audience, Report, observed
from receiver.outbox.rules.delivery import DELIVERY_STATES, DeliveryFilter, DownstreamLabels
from receiver.wiring.worker_parts import WorkerParts, wakers_for
from tests.testkit import listed

from .test_parts_alone import OWNER, Lines

SETTINGS = Settings()


class Sink:
    """A downstream on loopback: answers 200 to each request and keeps its head and body."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.got = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                lines = head.decode().split("\r\n")[1:]
                headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append((headers, body))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                self.got.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the fan-out closed its connection
        finally:
            writer.close()


class Directory:
    """Every downstream, as the fan-out reads the directory: one, from the config file."""

    def __init__(self, d: Downstream) -> None:
        self.configured = {d.name: d}
        self.app_names: dict[str, str] = {}
        self.subscribers = listed({d.name: subscription(d)})

    def followed(self) -> set[str]:
        return set()  # nothing changes

    async def usable(self, wanted: list[str]) -> dict[str, tuple[Downstream, tuple[Any, ...]]]:
        return {n: (self.configured[n], ()) for n in wanted if n in self.configured}

    async def any_owned(self) -> bool:
        return False

    def token_source(self, d: Downstream) -> None:
        return None

    def scope_of(self, name: str, secrets: tuple[Any, ...] = ()) -> tuple[Any, ...]:
        return secrets


async def _delivered(store: Store, deadline: float) -> str:
    """The state of the one delivery once it is no longer pending (or at the deadline)."""
    while True:
        [delivery] = await reads.deliveries(store, DeliveryFilter(limit=1))
        if delivery.state != "pending" or time.monotonic() > deadline:
            return delivery.state
        await asyncio.sleep(0.02)


async def _story(tmp_path: Path) -> None:
    sink = Sink()
    server = await asyncio.start_server(sink.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = open_store(f"sqlite:///{tmp_path / 'relay.db'}")
    await store.migrate()
    d = Downstream(name="sink", url=f"http://127.0.0.1:{port}/hook", events=["succeeded"])
    d = d.model_copy(update={"secret": "whsec_" + "a" * 32})
    directory = Directory(d)
    log = Lines()
    wakers = wakers_for(SETTINGS)
    parts = WorkerParts(store, Metrics(DELIVERY_STATES, DownstreamLabels()), log, OWNER, wakers)
    handoff = DeliveryHandoff()
    fanout = Fanout(parts, SETTINGS.delivery, directory, handoff)  # type: ignore[arg-type]
    stopping = asyncio.Event()
    running = asyncio.create_task(fanout.run(stopping))
    try:

        def succeeded(db: Any) -> None:
            task, _ = create_task(db, NewTask("generate", {"prompt": "a cat"}), now=time.time())
            success = Observation(state="succeeded", upstream_task_id="up_1")
            report = Report("poll", "k", success, "{}")
            observed(db, task.id, report, Audience(directory.subscribers), time.time())

        await store.run(succeeded)
        wakers.wake(Work.DELIVERIES)  # as a poll's commit does
        await asyncio.wait_for(sink.got.wait(), 10)
        assert await _delivered(store, time.monotonic() + 10) == "succeeded"
        [(headers, body)] = sink.requests
        assert headers["webhook-id"] and headers["webhook-signature"].startswith("v1,")
        assert b'"type":"task.succeeded"' in body.replace(b" ", b"")
        assert handoff.taker is fanout  # polls hand it their new deliveries while it runs
    finally:
        stopping.set()
        await running
        server.close()
        await store.close()
    assert handoff.taker is None


def test_the_fanout_runs_on_its_own_parts(tmp_path: Path) -> None:
    asyncio.run(_story(tmp_path))


async def _found_each_tick(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'relay.db'}")
    await store.migrate()
    flooding, waiting = (
        Downstream(name=name, url=f"http://127.0.0.1:9/{name}", events=["succeeded"])
        for name in ("flooding", "waiting")
    )
    subscribers = listed({d.name: subscription(d) for d in (flooding, waiting)})
    try:

        def succeeded(db: Any) -> None:
            task, _ = create_task(db, NewTask("generate", {"prompt": "a cat"}), now=time.time())
            success = Observation(state="succeeded", upstream_task_id="up_1")
            observed(db, task.id, Report("poll", "k", success, "{}"), Audience(subscribers), 0.0)

        await store.run(succeeded)
        busy = Busy()  # the lanes with work, as the fan-out keeps them
        lane = Lane.of(flooding, busy)
        lane.backlog = True  # its last claim came back full, as in a flood
        # A round run as slots free: the lanes known to have rows, the store not searched...
        assert await with_rows_due(store, busy, set(), search=False) == {"flooding"}
        # ...but each tick (or rows committed) it is: the one with no lane has its turn.
        assert await with_rows_due(store, busy, set(), search=True) == {"flooding", "waiting"}
        quiet = Lane.of(waiting, busy)  # no backlog, nothing searched: drained until rows come
        assert await with_rows_due(store, busy, set(), search=False) == {"flooding"}
        assert quiet.drained and not quiet.backlog
    finally:
        await store.close()


def test_a_downstream_with_no_lane_is_found_each_tick_beside_a_backlog(tmp_path: Path) -> None:
    asyncio.run(_found_each_tick(tmp_path))


async def _held_once(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'relay.db'}")
    await store.migrate()
    d = Downstream(name="sink", url="http://127.0.0.1:9/hook", events=["succeeded"])
    parts = WorkerParts(
        store, Metrics(DELIVERY_STATES, DownstreamLabels()), Lines(), OWNER, wakers_for(SETTINGS)
    )
    fanout = Fanout(parts, SETTINGS.delivery, Directory(d), DeliveryHandoff())  # type: ignore[arg-type]
    try:
        fanout.out.open_held()
        publisher, lane = fanout.out.publishers["sink"], fanout.out.lanes["sink"]
        fanout.out.open_held()  # a run started again after a failure (kernel/supervisor.py)
        assert fanout.out.publishers["sink"] is publisher and fanout.out.lanes["sink"] is lane
    finally:
        await publisher.close()
        await store.close()


def test_a_run_started_again_keeps_the_held_lanes_it_has(tmp_path: Path) -> None:
    asyncio.run(_held_once(tmp_path))
