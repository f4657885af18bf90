"""The events table, written here only: each report of a task kept as an event (with the
document its deliveries carry), and the relay's own notices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from receiver.kernel.store.db import Db, Sql

RELAY_TASK = "tsk_relay"  # the relay's own notices are events of this task


@dataclass(frozen=True)
class NewEvent:
    """One observation of a task as an event row; `document` is what downstreams receive."""

    id: str
    task_id: str
    source: str
    dedupe_key: str
    state: str | None
    upstream_status: str | None
    applied: bool
    at: float
    document: dict[str, Any]
    raw: str = ""
    verdict: str | None = None
    verdict_at: float | None = None


INSERT_EVENT = Sql(
    "INSERT INTO events (id, task_id, source, dedupe_key, state, upstream_status, applied,"
    " received_at, raw, payload, verdict, verdict_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (task_id, dedupe_key) DO NOTHING"
)


def insert_event(db: Db, event: NewEvent) -> bool:
    """False when an event with this dedupe key is already stored (nothing is written)."""
    return bool(
        db.execute(
            INSERT_EVENT,
            (
                event.id,
                event.task_id,
                event.source,
                event.dedupe_key,
                event.state,
                event.upstream_status,
                int(event.applied),
                event.at,
                event.raw,
                orjson.dumps(event.document).decode(),
                event.verdict,
                event.verdict_at,
            ),
        )
    )


INSERT_NOTICE = Sql(
    "INSERT INTO events (id, task_id, source, dedupe_key, state, applied, received_at, raw,"
    " payload) VALUES (?, ?, 'relay', ?, ?, 1, ?, '', ?)"
)


def insert_notice(db: Db, task_id: str, dedupe_key: str, document: dict[str, Any]) -> None:
    """A notice of the relay's own: its id, state and time are its document's."""
    db.execute(
        INSERT_NOTICE,
        (
            document["event_id"],
            task_id,
            dedupe_key,
            document["state"],
            document["occurred_at"],
            orjson.dumps(document).decode(),
        ),
    )


SET_VERDICT = Sql("UPDATE events SET verdict = ?, verdict_at = ? WHERE id = ?")


def set_verdict(db: Db, event_id: str, verdict: str, now: float) -> None:
    """A callback's claim judged by CometAPI's answer."""
    db.execute(SET_VERDICT, (verdict, now, event_id))


EVENT_PAYLOAD = Sql("SELECT payload FROM events WHERE id = ?")

SET_EVENT_PAYLOAD = Sql("UPDATE events SET payload = ? WHERE id = ?")


def add_media(db: Db, event_id: str, media: dict[str, Any]) -> None:
    """A copy's outcome goes into its event's document, which the deliveries carry."""
    row = db.one(EVENT_PAYLOAD, (event_id,))
    assert row is not None
    document = {**orjson.loads(row["payload"]), "media": media}
    db.execute(SET_EVENT_PAYLOAD, (orjson.dumps(document).decode(), event_id))


PRUNE_EVENTS = Sql("DELETE FROM events WHERE task_id = ANY(?)")


def prune(db: Db, task_ids: list[str]) -> int:
    """The events of these tasks deleted; how many."""
    return db.execute(PRUNE_EVENTS, (db.array(task_ids),))
