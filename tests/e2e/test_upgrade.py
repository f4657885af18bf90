"""The upgrade path: a store written by the previous release (tests/fixtures/, made with
commit 1621e37: tasks mid-flight, deliveries pending, leased, retrying, delivered, dead and
held) starts under this one, migrates, is converted to incremental vacuum, and loses
nothing; what was pending still goes out."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from receiver.kernel.store.migrate import migrations
from tests.conftest import relay_env, webhook
from tests.harness import Relay, Simulator, Sink, relay_settings, wait_for
from tests.testkit import free_port

pytestmark = pytest.mark.every_backend

FIXTURE = Path(__file__).parents[1] / "fixtures" / "previous_release.sql"
KEYS = {
    "tasks": "id",
    "events": "id",
    "deliveries": "id",
    "delivery_attempts": "id",
    "downstreams": "name",
    "schema_migrations": "version",
}


def read(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def rows(path: Path) -> dict[str, set[object]]:
    return {t: {r[0] for r in read(path, f"SELECT {k} FROM {t}")} for t, k in KEYS.items()}


def delivery_states(path: Path) -> dict[object, object]:
    return dict(read(path, "SELECT id, state FROM deliveries"))


@pytest.mark.older_release_events
def test_a_store_of_the_previous_release_upgrades_and_loses_nothing(
    tmp_path: Path, sim: Simulator, make_sink: Callable[[], Sink]
):
    path = tmp_path / "relay.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(FIXTURE.read_text())
    before, states = rows(path), delivery_states(path)
    assert read(path, "PRAGMA auto_vacuum") == [(0,)]  # as that release made its files
    assert set(states.values()) == {"pending", "succeeded", "dead", "held"}
    pending = {d for d, s in states.items() if s == "pending"}
    assert len(pending) == 3  # retrying, and two never tried, leased by a crashed replica

    hook, gone = make_sink(), make_sink()
    port = free_port()
    settings = relay_settings(
        f"sqlite:///{path}",
        f"http://127.0.0.1:{port}",
        sim.url,
        downstream=[webhook(hook, "hook"), webhook(gone, "gone")],
        retention={"task_days": 36500},  # the fixture's tasks ended long before the test
    )
    relay = Relay(tmp_path, settings, relay_env())
    try:
        relay.start()
        [started] = [e for e in relay.log_lines() if e.get("event") == "service.started"]
        newer = [m.version for m in migrations() if m.version > max(before["schema_migrations"])]
        assert started["migrations"] == newer and 11 in newer
        assert read(path, "PRAGMA auto_vacuum") == [(2,)]  # INCREMENTAL

        # What was pending goes out.
        wait_for(lambda: pending <= {h["headers"]["webhook-id"] for h in hook.accepted()})
        after, now = rows(path), delivery_states(path)
        for table, keys in before.items():
            assert keys <= after[table], f"{table} lost {keys - after[table]}"
        for delivery, state in states.items():
            if state in ("dead", "held", "succeeded"):
                assert now[delivery] == state, delivery  # dead letters and held ones stay
        assert gone.received() == []  # still disabled: its deliveries wait for an operator
        for (task_id,) in read(path, "SELECT id FROM tasks WHERE kind <> 'relay'"):
            assert relay.task(str(task_id))["id"] == task_id
    finally:
        relay.close()
