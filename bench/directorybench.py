"""The 1,000th downstream made through the API, measured: its row written and the
directory brought up to date, as `POST /v1/downstreams` does, with 999 made before it.

    python bench/directorybench.py --db /tmp/directory.db --count 1000

The 999 are written straight to the store (sealed as the API seals them) and read once;
then the last one is made and the directory refreshed, timed apart. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import structlog

from receiver.config import Config
from receiver.downstreams import transactions as downstream_transactions
from receiver.downstreams.directory import Directory
from receiver.kernel.observability.metrics import Metrics
from receiver.kernel.secrets.sealing import Sealer, seal_url
from receiver.kernel.secrets.signing import new_secret
from receiver.kernel.store.sqlite import SqliteStore
from receiver.outbox.rules.delivery import DELIVERY_STATES, DownstreamLabels

SECRET = "bench-signing-secret-" + "9" * 32


async def _make(store: SqliteStore, sealer: Sealer, name: str) -> None:
    spec = {"url": f"https://hooks.example.com/{name}", "format": "webhook"}
    sealed = sealer.seal(new_secret(), name), sealer.current_key
    await downstream_transactions.create(store, name, seal_url(sealer, spec, name), sealed)


async def run(db: Path, count: int) -> dict[str, float]:
    store = SqliteStore(str(db))
    await store.migrate()
    sealer = Sealer([SECRET])
    log = structlog.wrap_logger(logging.getLogger("bench"))
    config = cast(Config, SimpleNamespace(downstreams=[], public_url="https://relay.test"))
    directory = Directory(
        config, store, sealer, log, Metrics(DELIVERY_STATES, DownstreamLabels()).directory_rows
    )
    for i in range(count - 1):
        await _make(store, sealer, f"d{i:05d}")
    await directory.refresh()
    started = time.perf_counter()
    await _make(store, sealer, "last")
    written = time.perf_counter()
    await directory.refresh()
    done = time.perf_counter()
    idle = time.perf_counter()
    await directory.refresh()  # a tick with nothing changed
    idle_done = time.perf_counter()
    await store.close()
    return {
        "downstreams": count,
        "create_ms": round((done - started) * 1000, 2),
        "write_ms": round((written - started) * 1000, 2),
        "refresh_ms": round((done - written) * 1000, 2),
        "idle_tick_ms": round((idle_done - idle) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    args.db.unlink(missing_ok=True)
    print(json.dumps(asyncio.run(run(args.db, args.count))))


if __name__ == "__main__":
    main()
