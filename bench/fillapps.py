"""Make N apps, each with a key and 10 webhook endpoints, through the relay's own code, fast.

    python bench/fillapps.py --url sqlite:///tmp/apps.db --apps 10000 --sink http://127.0.0.1:9

What `POST /v1/apps`, `POST /v1/apps/{app}/keys` and an app's `POST /v1/downstreams` write,
written by the same row functions those transactions run (apps, keys, downstreams), each
endpoint's settings read by the API's model and its URL and secret sealed as the API seals
them, under the relay's secret (bench/common.py's SIGNING_SECRET). Batched: one transaction
per BATCH apps, on the store `receiver serve` opens (SQLite or PostgreSQL, migrated here), so
that 10,000 apps x 10 endpoints take a few minutes on 2 cores where as many API calls would
take hours. Prints one JSON line: the apps' names and keys, first ones first (`--keys`: how
many to print).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from common import SIGNING_SECRET

from receiver.config import ManagedDownstreamConfig
from receiver.downstreams import rows as downstreams
from receiver.downstreams.manage import read_checked
from receiver.kernel.secrets.sealing import Sealer, seal_url
from receiver.kernel.secrets.signing import new_secret
from receiver.kernel.store import Store, open_store
from receiver.kernel.store.db import Db
from receiver.keys.rows import apps, keys
from receiver.keys.rows.apps import AppSettings
from receiver.keys.rows.keys import NewKey
from receiver.keys.rules import KeyHasher, new_key
from receiver.outbox.rules.delivery import owned_name

ENDPOINTS = 10
BATCH = 100  # apps a transaction
# What an app's key may do in the stage: submit and read its tasks, manage its endpoints.
SCOPES = ["tasks:submit", "tasks:read", "downstreams"]


@dataclass(frozen=True)
class App:
    name: str
    key: str  # the bearer token, as `POST /v1/apps/{app}/keys` shows it once


def app_name(i: int) -> str:
    return f"app{i:06d}"


def endpoint_spec(sink_url: str, app: str, k: int) -> dict[str, Any]:
    """An endpoint as an app's `POST /v1/downstreams` body gives it."""
    return {"name": f"e{k}", "url": f"{sink_url}/hook/{app}/e{k}"}


class Maker:
    """What the API does to the values before they are written: keys hashed, endpoints'
    settings read by their model, URLs and secrets sealed."""

    def __init__(self, sink_url: str) -> None:
        self.sink_url = sink_url
        self.hasher = KeyHasher([SIGNING_SECRET])
        self.sealer = Sealer([SIGNING_SECRET])

    def app(self, db: Db, i: int, now: float) -> App:
        name = app_name(i)
        made = apps.create(db, name, AppSettings(), now)
        token = new_key()
        new = NewKey(f"{name}-key", self.hasher.digest(token), SCOPES, 1, app_id=made.id)
        keys.create(db, new, now)
        for k in range(ENDPOINTS):
            self.endpoint(db, made.id, endpoint_spec(self.sink_url, name, k), now)
        return App(name, token)

    def endpoint(self, db: Db, app_id: str, payload: dict[str, Any], now: float) -> None:
        settings = read_checked(ManagedDownstreamConfig, payload)
        spec = settings.model_dump(exclude={"name"}, exclude_none=True)
        kept = owned_name(app_id, settings.name)
        sealed = self.sealer.seal(new_secret(settings.signing), kept)
        stored = seal_url(self.sealer, spec, kept)
        downstreams.create(db, kept, app_id, stored, (sealed, self.sealer.current_key), now)


async def make(store: Store, count: int, sink_url: str) -> list[App]:
    """`count` apps, migrated store first; their names and keys in order."""
    await store.migrate()
    maker = Maker(sink_url)
    made: list[App] = []
    for first in range(0, count, BATCH):
        last = min(first + BATCH, count)

        def batch(db: Db, first: int = first, last: int = last) -> list[App]:
            now = time.time()
            return [maker.app(db, i, now) for i in range(first, last)]

        made += await store.run(batch, timeout=None)
    return made


async def fill(url: str, count: int, sink_url: str) -> list[App]:
    store = open_store(url)
    try:
        return await make(store, count, sink_url)
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="storage URL: sqlite:///PATH or postgresql://")
    parser.add_argument("--apps", type=int, required=True)
    parser.add_argument("--sink", required=True, help="the endpoints' base URL")
    parser.add_argument("--keys", type=int, default=200, help="how many apps' keys to print")
    args = parser.parse_args()
    started = time.monotonic()
    made = asyncio.run(fill(args.url, args.apps, args.sink))
    print(
        json.dumps(
            {
                "apps": len(made),
                "seconds": round(time.monotonic() - started, 1),
                "keys": [[a.name, a.key] for a in made[: args.keys]],
            }
        )
    )


if __name__ == "__main__":
    main()
