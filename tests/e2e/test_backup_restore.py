"""Backups taken while the relay serves, and restores, as docs/operations.md gives them:
stop, restore, start, and the deliveries that were pending still go out. SQLite through
`receiver backup`; PostgreSQL through pg_dump and pg_restore (which `receiver backup`
points to)."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MakeRelay, webhook
from tests.e2e.test_operator import cli
from tests.harness import PG_URL, Relay, Simulator, Sink, image_to_video, settled, wait_for
from tests.testkit import to_toml

pytestmark = pytest.mark.every_backend


def pending_after_a_failure(relay: Relay, task_id: str) -> dict[str, Any] | None:
    task = relay.task(task_id)
    failed_once = [d for d in task["deliveries"] if d["state"] == "pending" and d["attempts"]]
    return task if failed_once else None


def delivered(sink: Sink) -> set[str]:
    return {h["headers"]["webhook-id"] for h in sink.accepted()}


def back_up(relay: Relay, storage_url: str, target: Path) -> None:
    done = cli(relay, "backup", str(target))
    if storage_url.startswith("sqlite:///"):
        assert done.returncode == 0, done.stderr
        assert "integrity: ok" in done.stdout
        assert "3 succeeded" in done.stdout and "3 pending" in done.stdout, done.stdout
        return
    assert done.returncode == 2 and "pg_dump --format=custom" in done.stderr
    schema = re.search(r"search_path%3D(\w+)", storage_url)
    assert schema is not None  # the test's own schema of the shared database
    dump = ["pg_dump", "--format=custom", f"--schema={schema.group(1)}", "--file", str(target)]
    subprocess.run([*dump, PG_URL], check=True, timeout=60)


def restore(storage_url: str, backup: Path) -> None:
    if storage_url.startswith("sqlite:///"):
        path = storage_url.removeprefix("sqlite:///")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(backup, path)
        return
    subprocess.run(
        ["pg_restore", "--clean", "--if-exists", "--dbname", PG_URL, str(backup)],
        check=True,
        timeout=60,
    )


def test_a_backup_taken_while_serving_restores_and_pending_deliveries_go_out(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, storage_url: str, tmp_path: Path
):
    sink.mode(status=503)
    relay = make_relay([webhook(sink)], delivery={"retry_schedule": [2.0] * 30})
    ids = [relay.submit(**image_to_video()).json()["id"] for _ in range(3)]
    tasks = [wait_for(lambda t=t: pending_after_a_failure(relay, t)) for t in ids]
    pending = {t["deliveries"][0]["id"] for t in tasks}

    backup = tmp_path / "backup.db"
    back_up(relay, storage_url, backup)  # while it serves
    assert relay.anon.get("/readyz").status_code == 200
    relay.stop()
    restore(storage_url, backup)
    sink.mode(status=200)
    relay.start()

    wait_for(lambda: pending <= delivered(sink))
    for task_id in ids:
        # The sink answers before the relay records the attempt: wait for the record.
        [delivery] = relay.wait_task(task_id, settled)["deliveries"]
        assert delivery["state"] == "succeeded"


def test_a_backup_needs_a_store_and_never_overwrites_a_file(tmp_path: Path):
    config = tmp_path / "relay.toml"
    store = tmp_path / "relay.db"
    config.write_text(to_toml({"storage": {"url": f"sqlite:///{store}"}}))

    def backup(target: Path) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "receiver", "backup", str(target), "--config", str(config)]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    missing = backup(tmp_path / "new.db")
    assert missing.returncode == 2 and f"no store at {store}" in missing.stderr
    assert not (tmp_path / "new.db").exists() and not store.exists()  # nothing was made
    with sqlite3.connect(store) as conn:
        conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)")
    taken = tmp_path / "taken.db"
    taken.write_text("something else")
    refused = backup(taken)
    assert refused.returncode == 2 and "exists already" in refused.stderr
    assert taken.read_text() == "something else"
