"""`/livez` while anonymous clients fetch a key set of 1,000 RFC 9421 keys, against `/livez`
with no one fetching, in the same run: a key set is built once a change of its keys and
kept serialised (receiver/downstreams/key_sets.py), so its fetch should not hold the loop.

    python bench/jwksbench.py                    # an app's set: /.well-known/jwks/bench.json
    python bench/jwksbench.py --set operator     # the operator's: /.well-known/jwks.json

`receiver serve` of this checkout (SQLite, logging at warning) gets KEYS downstreams with
`signing = "rfc9421"` made through the API (an app's, or the operator's own), their URLs
a closed loopback port (no task is made: nothing is delivered). Then `/livez` is asked one
request after another for SECONDS with no other load (the reference), and again while
CLIENTS connections (another process) fetch the set in a closed loop. Prints one JSON line:
`/livez` latency (p50, p99, max, ms) for each, the fetches a second and the set's size.
`--set operator` runs on a build without the apps' sets too (with its PYTHONPATH)."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from common import ADMIN_TOKEN, relay_settings, start_relay

from tests.testkit import free_port

APP = "bench"


def _made(base: str, count: int, owner: str | None) -> None:
    """`count` rfc9421 downstreams through the API, four at a time."""
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=base, headers=admin, timeout=60) as client:
        if owner is not None:
            client.post("/v1/apps", json={"name": owner}).raise_for_status()

        def make(n: int) -> None:
            body = {"name": f"k{n}", "url": f"http://127.0.0.1:9/k{n}", "signing": "rfc9421"}
            client.post("/v1/downstreams", json=body | ({"owner": owner} if owner else {}))
            # Refused (a name taken after a retry) or not, the set is read at the end.

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(make, range(count)))


async def _fetch(url: str, clients: int, stop: Any, out: Any) -> None:
    """`clients` connections fetching `url` in a closed loop until `stop` is set; puts
    "ready" once each has fetched once, then how many fetches in how many seconds."""
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=clients)) as c:

        async def loop() -> int:
            done = 0
            while not stop.is_set():
                (await c.get(url)).raise_for_status()
                done += 1
            return done

        await asyncio.gather(*(c.get(url) for _ in range(clients)))
        out.put("ready")
        started = time.monotonic()
        done = sum(await asyncio.gather(*(loop() for _ in range(clients))))
        out.put((done, time.monotonic() - started))


def _fetchers(url: str, clients: int, stop: Any, out: Any) -> None:
    asyncio.run(_fetch(url, clients, stop, out))


def _livez(base: str, seconds: float) -> dict[str, float]:
    took: list[float] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            start = time.perf_counter()
            client.get("/livez").raise_for_status()
            took.append((time.perf_counter() - start) * 1000)
    took.sort()
    return {
        "requests": len(took),
        "p50_ms": round(statistics.median(took), 2),
        "p99_ms": round(took[math.ceil(len(took) * 0.99) - 1], 2),  # nearest rank
        "max_ms": round(took[-1], 2),
    }


def measure(keys: int, clients: int, seconds: float, owner: str | None) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="jwksbench-"))
    port = free_port()
    settings = relay_settings(work / "relay.db", port, delivery={"allow_private_networks": True})
    relay = start_relay(work, "jwks-relay", settings)
    base = f"http://127.0.0.1:{port}"
    path = "/.well-known/jwks.json" if owner is None else f"/.well-known/jwks/{owner}.json"
    try:
        made = time.monotonic()
        _made(base, keys, owner)
        made_seconds = time.monotonic() - made
        body = httpx.get(base + path, timeout=30)
        body.raise_for_status()
        published = len(body.json()["keys"])
        idle = _livez(base, seconds)
        spawn = multiprocessing.get_context("spawn")
        results, stop = spawn.Queue(), spawn.Event()
        fetchers = spawn.Process(target=_fetchers, args=(base + path, clients, stop, results))
        fetchers.start()
        assert results.get(timeout=120) == "ready"  # every connection open and fetching
        loaded = _livez(base, seconds)
        stop.set()
        fetched, fetched_seconds = results.get(timeout=60)
        fetchers.join(30)
    finally:
        relay.stop()
    return {
        "set": path,
        "keys": published,
        "set_bytes": len(body.content),
        "made_seconds": round(made_seconds, 1),
        "clients": clients,
        "livez_idle": idle,
        "livez_while_fetched": loaded,
        "fetches_per_second": round(fetched / fetched_seconds, 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--set", choices=["app", "operator"], default="app")
    args = parser.parse_args()
    owner = APP if args.set == "app" else None
    print(json.dumps(measure(args.keys, args.clients, args.seconds, owner)))
