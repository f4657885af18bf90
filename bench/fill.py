"""Fill a SQLite store fast, through the store's own transaction functions, in its own process.

Three populations, all written with the same query functions the service runs:
- stored: finished tasks with their history (submit, running, succeeded events and one
  delivered outbox row), the bulk a long-running relay accumulates;
- open: submitted tasks that wait for callbacks (never due for a poll during a run);
- due: tasks whose next poll is spread over a window, for the poller benchmark;
- outbox: finished tasks with pending deliveries to downstreams d0..d(K-1), for fan-out;
  with `--chains`, each task's running and succeeded events both wait (ordered delivery).

Bench data only: synchronous=OFF while filling, then one checkpoint, so the file is whole.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import psycopg
from common import SIGNING_SECRET, callback_body
from psycopg.rows import dict_row as pg_dict_row

from receiver.kernel.secrets.tokens import CallbackSigner
from receiver.kernel.store.db import Db, Sql
from receiver.kernel.store.migrate import migrate
from receiver.kernel.store.postgres.store import PostgresDb
from receiver.kernel.store.sqlite import SqliteDb, dict_row
from receiver.lifecycle.comet import parse_callback
from receiver.lifecycle.rows.tasks import intake, submits
from receiver.lifecycle.rules.records import NewTask
from receiver.lifecycle.rules.task import Observation
from receiver.lifecycle.transactions.observe import Audience, Report, observed
from receiver.outbox.rules.delivery import Subscription
from receiver.tasks.transactions import Accepted, bind
from tests.testkit import listed

_SUB: dict[str, Subscription] = {}


def connect(path: Path) -> tuple[sqlite3.Connection, SqliteDb]:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = dict_row
    conn.execute("PRAGMA auto_vacuum=INCREMENTAL")  # as the relay makes its files
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    db = SqliteDb(conn)
    conn.execute("BEGIN")
    migrate(db)
    conn.execute("COMMIT")
    return conn, db


def _request(kind: str, i: int) -> dict[str, Any]:
    if kind == "video2video":
        return {"video": f"https://example.invalid/in/{i}.mp4", "prompt": "pixel-art redraw"}
    return {"promptImage": f"https://example.invalid/img/{i}.jpg", "promptText": "a calm move"}


def _submitted(db: Db, kind: str, i: int, upstream_id: str, next_poll_at: float) -> str:
    """A task sent as the relay sends one: taken out of the submit queue, its send over,
    CometAPI's id bound. (Left waiting in the queue, as before, each task was a send the
    relay's submit worker found bound and took out of the queue during the run: work that
    production never sees, charged to every stage.)"""
    # Created now: a task created at the epoch would be given up at its first poll.
    now = time.time()
    task, _ = intake.create_task(db, NewTask(kind, _request(kind, i)), now)
    for row in submits.due(db, [task.id]):
        submits.end_send(db, submits.start(db, row, "fill", now), "fill", None, now)
    raw = json.dumps({"code": 200, "msg": "success", "data": {"task_id": upstream_id}})
    accepted = Accepted(upstream_id, raw, next_poll_at)
    bind(db, task.id, accepted, Audience(listed(_SUB)), "submit", time.time())
    return task.id


_DELIVERED = Sql(
    "UPDATE deliveries SET state = 'succeeded', attempts = 1, delivered_at = updated_at,"
    " last_status = 200 WHERE state = 'pending' AND downstream = 'hist'"
)


def add_stored(db: SqliteDb, start: int, stop: int) -> None:
    """Finished tasks with three events each and one delivered outbox row."""
    now = time.time()
    sub = {"hist": Subscription(frozenset({"succeeded"}))}
    for i in range(start, stop):
        up = f"stored-{i:07d}"
        task_id = _submitted(db, "video2video", i, up, now + 86400)
        for state in ("running", "succeeded"):
            body = callback_body(up, state, f"fill-{i}")
            _, obs = _parse(body)
            report = Report("callback", f"callback:{state}", obs, body)
            observed(db, task_id, report, Audience(listed(sub)), now)
    db.execute(_DELIVERED)


def _parse(body: str) -> tuple[Any, Observation]:
    return parse_callback(body.encode())


def add_open(db: Db, count: int, pairs: Path, signer: CallbackSigner) -> None:
    """Submitted video2video tasks waiting for callbacks; their signed paths go to `pairs`."""
    far = time.time() + 86400
    lines = []
    for i in range(count):
        up = f"open-{i:07d}"
        task_id = _submitted(db, "video2video", i, up, far)
        lines.append(f"{signer.url_for(task_id)} {up}\n")
    pairs.write_text("".join(lines))


def add_due(db: SqliteDb, count: int, window: float) -> None:
    """Open tasks, half reverse and half official format, first polls spread over `window`.

    A negative window parks them a day ahead: open, but not due during the run.
    """
    now = time.time()
    for i in range(count):
        kind = "video2video" if i % 2 else "image_to_video"
        due = now + 86400 if window < 0 else now + window * i / count
        _submitted(db, kind, i, f"poll-{i:07d}", due)


def add_outbox(db: SqliteDb, events: int, downstreams: int, chains: bool = False) -> None:
    """Finished tasks whose terminal event (`chains`: running, then succeeded; `events`
    in all) waits in the outbox for every downstream."""
    now = time.time()
    states = ("running", "succeeded") if chains else ("succeeded",)
    sub = {f"d{k}": Subscription(frozenset(states)) for k in range(downstreams)}
    for i in range(events // len(states)):
        up = f"out-{i:07d}"
        task_id = _submitted(db, "video2video", i, up, now + 86400)
        for state in states:
            body = callback_body(up, state, f"out-{i}")
            _, obs = _parse(body)
            report = Report("callback", f"callback:{state}", obs, body)
            observed(db, task_id, report, Audience(listed(sub)), now)


def finish(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def fill_postgres(url: str, count: int, pairs: Path) -> None:
    """Open tasks waiting for callbacks in a PostgreSQL store (migrated here), for the
    replicas stage; their signed paths go to `pairs`."""
    with psycopg.connect(url, row_factory=pg_dict_row) as conn:
        db = PostgresDb(conn)
        migrate(db)
        add_open(db, count, pairs, CallbackSigner([SIGNING_SECRET], 2 * 86400, public_url=""))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--postgres", help="fill this PostgreSQL store's open tasks instead")
    p.add_argument("--db", type=Path)
    p.add_argument("--stored", type=int, default=0, help="finished tasks with history")
    p.add_argument(
        "--snapshots", default="", help="comma list of stored counts to copy to <db>.<n>"
    )
    p.add_argument("--open", type=int, default=0, help="tasks waiting for callbacks")
    p.add_argument("--pairs", type=Path, help="where to write `path upstream_id` lines")
    p.add_argument("--due", type=int, default=0, help="open tasks for the poller")
    p.add_argument("--due-window", type=float, default=-1.0)
    p.add_argument("--outbox", type=int, default=0, help="events with pending deliveries")
    p.add_argument("--downstreams", type=int, default=1)
    p.add_argument("--chains", action="store_true", help="outbox: two events per task")
    args = p.parse_args()
    if args.postgres:
        fill_postgres(args.postgres, args.open, args.pairs)
        return
    conn, db = connect(args.db)
    # Open tasks first: every snapshot then holds the same tasks, so one pairs file serves all.
    conn.execute("BEGIN")
    if args.open:
        add_open(
            db, args.open, args.pairs, CallbackSigner([SIGNING_SECRET], 2 * 86400, public_url="")
        )
    if args.due:
        add_due(db, args.due, args.due_window)
    if args.outbox:
        add_outbox(db, args.outbox, args.downstreams, args.chains)
    conn.execute("COMMIT")
    snapshots = sorted(int(s) for s in args.snapshots.split(",") if s)
    done = 0
    for target in [*snapshots, args.stored]:
        if target <= done:
            continue
        conn.execute("BEGIN")
        add_stored(db, done, target)
        conn.execute("COMMIT")
        done = target
        if target in snapshots:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            shutil.copyfile(args.db, f"{args.db}.{target}")
    finish(conn)


if __name__ == "__main__":
    main()
