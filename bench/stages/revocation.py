"""Revocation on PostgreSQL: how long after `DELETE /v1/keys/{name}` is answered on one
replica the other refuses the key (401), with two `receiver serve` processes on one
database.

Each round makes a key on replica A, has replica B let it in (polled every POLL seconds for
a random part of a second, so that B's memory of the key is at any age when it is revoked,
as it would be under an app's steady traffic), revokes it on A, then polls B every POLL
seconds until the first 401. A refuses it at once (it forgets its own memory of keys when
it revokes one); B within the second it remembers a key, plus one poll.
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from typing import Any

import httpx
import psycopg
from common import ADMIN_TOKEN
from harness import Bench, Row, log, verdict

from tests.testkit import PG_URL

ROUNDS = 20
POLL = 0.02  # seconds between two requests to replica B
TARGET_MS = 2000.0  # the bound: every replica within 2 s
GIVE_UP = 10.0  # seconds: a key B still lets in by then counts as this long


def run(bench: Bench) -> None:
    schema = "bench_" + uuid.uuid4().hex[:12]
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        with (
            bench.relay("revoke-a", bench.work / "revoke-a.db", storage_url=url) as (_, port_a),
            bench.relay("revoke-b", bench.work / "revoke-b.db", storage_url=url) as (_, port_b),
        ):
            bench.results["revocation"] = measure(port_a, port_b)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def measure(port_a: int, port_b: int, rounds: int = ROUNDS) -> dict[str, Any]:
    admin = httpx.Client(
        base_url=f"http://127.0.0.1:{port_a}",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    )
    other = httpx.Client(base_url=f"http://127.0.0.1:{port_b}", timeout=10)
    same = httpx.Client(base_url=f"http://127.0.0.1:{port_a}", timeout=10)
    on_b: list[float] = []
    on_a: list[int] = []
    rng = random.Random(38)
    for n in range(rounds):
        name = f"bench-revoke-{n}"
        made = admin.post("/v1/keys", json={"name": name, "scopes": ["tasks:read"]})
        made.raise_for_status()
        bearer = {"Authorization": f"Bearer {made.json()['key']}"}
        warm_until = time.monotonic() + rng.uniform(0.05, 1.2)
        while time.monotonic() < warm_until:
            assert other.get("/v1/tasks?limit=1", headers=bearer).status_code == 200
            time.sleep(POLL)
        admin.delete(f"/v1/keys/{name}").raise_for_status()
        answered = time.monotonic()
        on_a.append(same.get("/v1/tasks?limit=1", headers=bearer).status_code)
        while True:
            status = other.get("/v1/tasks?limit=1", headers=bearer).status_code
            took = time.monotonic() - answered
            if status == 401 or took > GIVE_UP:
                break
            time.sleep(POLL)
        on_b.append(took * 1000)
    log(f"revocation: {rounds} rounds, on B p50 {statistics.median(on_b):.0f} ms")
    return {
        "rounds": rounds,
        "poll_ms": POLL * 1000,
        "p50_ms": round(statistics.median(on_b), 1),
        "p90_ms": round(sorted(on_b)[int(0.9 * (len(on_b) - 1))], 1),
        "max_ms": round(max(on_b), 1),
        "min_ms": round(min(on_b), 1),
        "refused_at_once_on_a": sum(s == 401 for s in on_a),
    }


def rows(r: dict[str, Any]) -> list[Row]:
    if "revocation" not in r:
        return []
    rev = r["revocation"]
    return [
        (
            f"Revoked key refused by the other replica (PostgreSQL, {rev['rounds']} revocations)",
            f"p50 {rev['p50_ms']:.0f} ms, p90 {rev['p90_ms']:.0f} ms, max {rev['max_ms']:.0f} ms;"
            f" on the revoking replica {rev['refused_at_once_on_a']}/{rev['rounds']} at once",
            f"<= {TARGET_MS:.0f} ms",
            verdict(rev["max_ms"] <= TARGET_MS and rev["refused_at_once_on_a"] == rev["rounds"]),
        )
    ]
