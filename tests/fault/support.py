"""Shared pieces of the fault suite: sizes from the environment, figures, the token ledger.

Figures are real measurements: each scenario appends one JSON line to $FAULT_FIGURES (or a
file under pytest's temp dir) so that a run leaves a record a README can quote.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.harness import SECRETS, Relay

FIGURES_ENV = "FAULT_FIGURES"


def size(name: str, default: int) -> int:
    """A scenario size, overridable by environment variable for a longer run."""
    return int(os.environ.get(name, default))


def backend_of(storage_url: str) -> str:
    return "sqlite" if storage_url.startswith("sqlite") else "postgres"


class Figures:
    """Appends one JSON line per scenario run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, scenario: str, **figures: Any) -> dict[str, Any]:
        line = {"scenario": scenario, **figures, "recorded_at": round(time.time(), 3)}
        with self.path.open("a") as out:
            out.write(json.dumps(line, sort_keys=False) + "\n")
        return line


class Ledger:
    """Every callback token issued in the session, and what was scanned for leaks."""

    def __init__(self) -> None:
        self.tokens: set[str] = set()
        self.logs: set[Path] = set()
        self.output_lines = 0
        self.output_leaks = 0
        self.figures: Path | None = None  # where this session's figures go

    def note_url(self, url: object) -> None:
        if isinstance(url, str) and "/callbacks/runway/" in url:
            self.tokens.add(url.rsplit("/", 1)[1])

    def note_response(self, response: httpx.Response) -> None:
        """Callback URLs in a submit answer."""
        try:
            body = response.json()
        except ValueError:
            return
        if isinstance(body, dict):
            self.note_url(body.get("callback_url"))

    def note_sim_tasks(self, tasks: list[dict[str, Any]]) -> None:
        for task in tasks:
            self.note_url(task.get("callback_url"))

    def needles(self) -> dict[str, str]:
        """What must never be written, by a label that is safe to print."""
        found = {secret: f"fixed secret #{i}" for i, secret in enumerate(SECRETS)}
        for token in self.tokens:
            found[token] = "a callback token"
            # The signature alone is the credential's secret part.
            found[token.rsplit(".", 1)[1]] = "a callback token's signature"
        return found

    def leaks(self, text: str) -> Counter[str]:
        return Counter({label: text.count(n) for n, label in self.needles().items() if n in text})

    def scan_relays(self, relays: list[Relay]) -> Counter[str]:
        leaks: Counter[str] = Counter()
        for relay in relays:
            self.logs.add(relay.log_path)
            leaks += self.leaks(relay.log())
        return leaks


LEDGER = Ledger()


def all_tasks(relay: Relay) -> list[dict[str, Any]]:
    """Every task in the store, newest first, through the admin API's pages."""
    tasks: list[dict[str, Any]] = []
    before: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000, **({"before": before} if before else {})}
        page = relay.api.get("/v1/tasks", params=params).json()["tasks"]
        tasks.extend(page)
        if len(page) < 1000:
            return tasks
        before = page[-1]["id"]


def pending_deliveries(relay: Relay) -> int:
    params: dict[str, str | int] = {"state": "pending", "limit": 1000}
    return len(relay.api.get("/v1/deliveries", params=params).json()["deliveries"])


def callback_body(upstream_id: str, status: str = "SUCCESS", **data: Any) -> bytes:
    """A callback as CometAPI sends it, for a task that ended with `status`."""
    fields: dict[str, Any] = {"task_id": upstream_id, "status": status, "msg": ""}
    if status == "SUCCESS":
        fields["video_url"] = f"https://cdn.test.invalid/{upstream_id}.mp4"
    return json.dumps({"code": 200, "msg": "success", "data": {**fields, **data}}).encode()


def store_sql(storage_url: str, sql: str, *params: Any) -> list[Any]:
    """Run one statement (with `?` placeholders) on a test's store, as an older release or
    a hand in the database could have left it; the rows it returns."""
    if storage_url.startswith("sqlite"):
        with sqlite3.connect(storage_url.removeprefix("sqlite:///")) as conn:
            return conn.execute(sql, params).fetchall()
    with psycopg.connect(storage_url, autocommit=True) as pg:
        cursor = pg.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []
