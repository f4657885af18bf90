"""PostgreSQL goes away for a while: callers are told at once, and nothing is sent twice.

The relay reaches its database through a proxy of the tests' own, which is cut (a black
hole: connections held, bytes dropped) and then restored. During the cut every callback
must get 503 within 2 s and /readyz 503 within 1 s; after it the relay recovers by itself,
and the sink sees each webhook-id once.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import MakeRelay, webhook
from tests.fault.proxy import Proxy
from tests.fault.support import Figures
from tests.harness import PgSchema, Relay, Simulator, Sink, settled, video2video, wait_for

pytestmark = [pytest.mark.fault, pytest.mark.postgres]
CALLBACKS = 40
CUT_SECONDS = 6.0


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    proxy = Proxy(5432)
    yield proxy
    proxy.close()


@pytest.fixture
def storage_url(proxy: Proxy) -> Iterator[str]:
    schema = PgSchema()
    yield schema.url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    schema.drop()


def _timed(call: httpx.Client, method: str, url: str, **kw: object) -> tuple[int, float]:
    t0 = time.monotonic()
    try:
        status = call.request(method, url, **kw).status_code  # type: ignore[arg-type]
    except httpx.HTTPError:
        status = 0
    return status, time.monotonic() - t0


def test_callers_hear_of_an_outage_at_once_and_the_relay_recovers_alone(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, proxy: Proxy, figures: Figures
) -> None:
    sim.faults(drop_rate=1.0)
    relay: Relay = make_relay([webhook(sink)], polling={"callback_grace_seconds": 60})
    tasks = [relay.submit(**video2video()).json() for _ in range(CALLBACKS)]

    proxy.cut()
    cut_at = time.monotonic()
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(CALLBACKS) as pool:
        body = {"status": "RUNNING"}
        answers = list(
            pool.map(lambda t: _timed(client, "POST", t["callback_url"], json=body), tasks)
        )
        ready = [_timed(client, "GET", f"{relay.url}/readyz") for _ in range(3)]
    # Told during the outage, not after it: without a deadline they would hang until the
    # database came back (the exact seconds are figures, below).
    assert [status for status, _ in answers] == [503] * CALLBACKS
    assert [status for status, _ in ready] == [503] * 3
    assert time.monotonic() - cut_at < CUT_SECONDS
    time.sleep(max(0.0, CUT_SECONDS - (time.monotonic() - cut_at)))  # the outage lasts
    proxy.restore()
    restored_at = time.monotonic()

    wait_for(lambda: relay.anon.get("/readyz").status_code == 200, timeout=30)
    recovered = time.monotonic() - restored_at
    # Work goes on: the callbacks are sent again, polls and deliveries resume.
    sim.faults(drop_rate=0.0)
    for t in tasks:
        assert httpx.post(t["callback_url"], json={"status": "RUNNING"}).status_code == 200
    for t in tasks:
        relay.wait_task(t["id"], settled, timeout=60)
    ids = Counter(h["headers"]["webhook-id"] for h in sink.accepted())
    assert len(ids) == CALLBACKS and set(ids.values()) == {1}
    assert all(json.loads(h["body"])["type"] == "task.succeeded" for h in sink.accepted())
    figures.record(
        "database_outage",
        backend="postgres",
        cut_seconds=CUT_SECONDS,
        callbacks_during_cut=CALLBACKS,
        answered_503=CALLBACKS,
        callback_answer_max_s=round(max(s for _, s in answers), 2),
        readyz_answer_max_s=round(max(s for _, s in ready), 2),
        ready_again_after_restore_s=round(recovered, 2),
        deliveries=sum(ids.values()),
        duplicate_deliveries=sum(ids.values()) - len(ids),
    )
