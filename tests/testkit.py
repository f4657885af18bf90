"""Helpers the tests and the benchmarks share: config files and free loopback ports."""

from __future__ import annotations

import json
import os
import random
import socket
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from receiver.kernel.store.migrate import migrate
from receiver.kernel.store.sqlite import SqliteDb, dict_row
from receiver.outbox.rules.delivery import MadeDownstream, Subscribers, Subscriptions

# The PostgreSQL server and database the suite and the benchmarks use (`.ci/run` reads the
# same setting): a database of its own that the tests may make schemas in, each test one.
PG_URL = os.environ.get("RELAY_TEST_PG_URL") or "postgresql://127.0.0.1:5432/test"


def pg_address() -> tuple[str, int]:
    """PG_URL's host and port, for a test that stands a proxy in front of the server."""
    found = urlsplit(PG_URL)
    return found.hostname or "127.0.0.1", found.port or 5432


def free_port() -> int:
    """A loopback port that is free now and that neither an outgoing connection nor another
    test can take before a server binds it. A port from the kernel (binding port 0) lies in
    its ephemeral range, which the next outgoing connection may also be given; so this one
    lies below it, in a slice of that space that is this test worker's alone (xdist's
    workers would otherwise draw the same port, as a relay's metrics port once met another
    worker's server), handed out in turn so that a port given to a server not yet started
    is not given again."""
    global _next_port
    low, high = _worker_slice()
    if _next_port is None:
        _next_port = random.randrange(low, high)
    for _ in range(high - low):
        port = _next_port
        _next_port = low if _next_port + 1 >= high else _next_port + 1
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {low}-{high}")


_next_port: int | None = None
_SLICES = 16  # more than any step's workers (.ci/run)


def _worker_slice() -> tuple[int, int]:
    """This process's ports: the space below the ephemeral range cut into `_SLICES`, one a
    worker (`gw3` takes the fourth, or, with RELAY_TEST_PORT_SLICE=8 for a suite run
    beside another, the twelfth; a run without xdist the last)."""
    top = _ephemeral_start()
    bottom = max(1024, top - 12000)
    size = (top - bottom) // _SLICES
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    first = int(os.environ.get("RELAY_TEST_PORT_SLICE", "0"))
    index = (first + int(worker[2:])) % (_SLICES - 1) if worker[2:].isdigit() else _SLICES - 1
    return bottom + index * size, bottom + (index + 1) * size


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def to_toml(settings: dict[str, Any]) -> str:
    """Just enough TOML for our config: tables (nested too), arrays of tables (their maps
    inline), scalars and lists."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):  # an inline table: a downstream's headers
            return "{" + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + "}"
        return repr(v)

    lines: list[str] = []

    def table(name: str, body: dict[str, Any]) -> None:
        lines.append(f"[{name}]")
        lines.extend(f"{k} = {value(v)}" for k, v in body.items() if not isinstance(v, dict))
        for k, v in body.items():
            if isinstance(v, dict):
                table(f"{name}.{k}", v)

    for section, body in settings.items():
        if isinstance(body, list):
            for item in body:
                lines.append(f"[[{section}]]")
                lines.extend(f"{k} = {value(v)}" for k, v in item.items())
        else:
            table(section, body)
    return "\n".join(lines) + "\n"


def listed(subscriptions: Subscriptions) -> Subscribers:
    """These downstreams, whatever the store holds: the store's transactions tested without
    downstream rows. Each still takes only its app's tasks (`Subscription.owner`)."""
    return Subscribers(subscriptions, (lambda db, owner: [], lambda db, names: []), _none)


def _none(row: MadeDownstream) -> None:
    return None


def migrated_sqlite(path: Path) -> tuple[sqlite3.Connection, SqliteDb]:
    """A new SQLite file, migrated, on a connection of its own (each statement its own
    transaction unless BEGIN says otherwise, rows as dicts): the rows and transactions
    called directly. It never syncs: each statement of the migrations is a commit of its
    own, and their fsyncs were most of these tests' time on a busy disk. A test of what
    reaches the disk runs the store itself (tests/unit/test_sqlite_store.py)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.row_factory = dict_row
    db = SqliteDb(conn)
    migrate(db)
    return conn, db
