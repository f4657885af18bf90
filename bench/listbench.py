"""The downstream lists at N apps of 10 endpoints each: one app's `GET /v1/downstreams`, the
admin's first page, the app's portal page and the console's downstreams page, beside
`/livez` (what any request waits for in that process).

    PYTHONPATH=. python bench/listbench.py --apps 10000 [--python OTHER/.venv/bin/python]
    PYTHONPATH=. python bench/listbench.py --apps 10 --postgres postgresql://127.0.0.1/bench

The apps and their downstreams are written straight to the store through the relay's own
rows (sealed as the API seals them), by the interpreter that then runs `receiver serve`
(`--python`: another checkout's, for the figure before a change). One key of the first app
is made through the API; each request is asked ROUNDS times (fewer past BUDGET_S), after one
to warm up. Prints one JSON line: the median and the worst of each, in ms, and each answer's
size."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import ADMIN_TOKEN, SIGNING_SECRET, own_path, python_child, relay_env, relay_settings

from receiver.config import ManagedDownstreamConfig
from receiver.downstreams import rows as downstreams
from receiver.kernel.secrets.sealing import Sealer, seal_url
from receiver.kernel.secrets.signing import new_secret
from receiver.kernel.store import open_store
from receiver.kernel.store.db import Db
from receiver.keys.rows import apps
from receiver.keys.rows.apps import AppSettings
from receiver.outbox.rules.delivery import owned_name
from tests.testkit import free_port, to_toml

ENDPOINTS = 10  # an app's
ROUNDS = 20
BUDGET_S = 30.0  # of rounds a request, past the first three (the old lists took a minute)
BATCH = 200  # apps a transaction
START_S = 1200.0


def spec(name: str) -> dict[str, Any]:
    settings = ManagedDownstreamConfig.model_validate(
        {"name": name, "url": f"https://hooks.example.com/{name}", "events": ["succeeded"]}
    )
    return settings.model_dump(exclude={"name"}, exclude_none=True)


async def fill(url: str, count: int) -> None:
    """`count` apps of ENDPOINTS downstreams each, written through the relay's own rows (run
    by the relay's interpreter: `--fill`)."""
    store = open_store(url, answer_within=600)
    await store.migrate()
    sealer = Sealer([SIGNING_SECRET])
    for start in range(0, count, BATCH):
        numbers = range(start, min(count, start + BATCH))

        def write(db: Db, numbers: range = numbers) -> None:
            now = time.time()
            for i in numbers:
                app = apps.create(db, f"app-{i:05d}", AppSettings(), now)
                for k in range(ENDPOINTS):
                    kept = owned_name(app.id, f"hook-{k:02d}")
                    sealed = sealer.seal(new_secret(), kept), sealer.current_key
                    spec_sealed = seal_url(sealer, spec(kept), kept)
                    downstreams.create(db, kept, app.id, spec_sealed, sealed, now)

        await store.run(write)
    await store.close()


def _env(python: str) -> dict[str, str]:
    """The relay's interpreter imports its own checkout (and this one's test kit)."""
    here = str(Path(__file__).resolve().parents[1])
    own = own_path(python).get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": ":".join(p for p in (own, here) if p)}


def _timed(client: httpx.Client, path: str) -> tuple[list[float], int]:
    took: list[float] = []
    size = 0
    until = time.monotonic() + BUDGET_S
    while len(took) <= ROUNDS and (len(took) < 3 or time.monotonic() < until):
        started = time.perf_counter()
        answer = client.get(path)
        took.append((time.perf_counter() - started) * 1000)
        answer.raise_for_status()
        size = len(answer.content)
    return took[1:], size


def _figure(took: list[float], size: int) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(took), 1),
        "max_ms": round(max(took), 1),
        "bytes": size,
    }


def run(apps: int, python: str, postgres: str | None) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="listbench-"))
    port = free_port()
    db = work / "lists.db"
    url = postgres or f"sqlite:///{db}"
    started = time.perf_counter()
    subprocess.run(
        [python, __file__, "--fill", url, "--apps", str(apps)], check=True, env=_env(python)
    )
    filled = time.perf_counter() - started
    settings = relay_settings(db, port, storage_url=postgres)
    # Not start_relay's two minutes: the relay of before a change reads every downstream
    # as it starts, which takes longer at 10,000 apps on a loaded machine.
    config = work / "lists.toml"
    config.write_text(to_toml(settings))
    serve = ["-m", "receiver", "serve", "--config", str(config)]
    relay = python_child("lists", serve, work, relay_env(port), python)
    relay.wait_http(f"http://127.0.0.1:{port}/readyz", timeout=START_S)
    out: dict[str, object] = {
        "apps": apps,
        "downstreams": apps * ENDPOINTS,
        "fill_s": round(filled, 1),
    }
    try:
        base = f"http://127.0.0.1:{port}"
        admin = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=600
        )
        made = admin.post(
            "/v1/apps/app-00000/keys", json={"name": "bench-key", "scopes": ["downstreams"]}
        )
        made.raise_for_status()
        key = made.json()["key"]
        app = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=600)
        # What any request waits for in this process (its loop's other work): the control.
        out["livez"] = _figure(*_timed(admin, "/livez"))
        out["app_list"] = _figure(*_timed(app, "/v1/downstreams"))
        out["admin_first_page"] = _figure(*_timed(admin, "/v1/downstreams"))
        link = app.post("/v1/portal-links", json={})
        link.raise_for_status()
        portal = httpx.Client(base_url=base, timeout=600)
        portal.get(link.json()["url"].removeprefix(base))  # a 303 to the portal
        out["portal_page"] = _figure(*_timed(portal, "/portal/"))
        console = httpx.Client(base_url=base, timeout=600)
        form = console.get("/console/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        fields = {"csrf": csrf[1], "token": ADMIN_TOKEN, "next": "/console/"}
        console.post("/console/login", data=fields)
        out["console_page"] = _figure(*_timed(console, "/console/deliveries"))
    finally:
        relay.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=10)
    parser.add_argument("--python", default=sys.executable, help="the relay's interpreter")
    parser.add_argument("--postgres", help="a PostgreSQL URL of an empty database")
    parser.add_argument("--fill", help=argparse.SUPPRESS)  # a storage URL: fill it, then end
    args = parser.parse_args()
    if args.fill:
        asyncio.run(fill(args.fill, args.apps))
        return
    print(json.dumps(run(args.apps, args.python, args.postgres)))


if __name__ == "__main__":
    main()
