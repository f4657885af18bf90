"""A notice of the relay's own about one downstream (an alert, a downstream disabled): an
event of the relay's task, and one delivery to each downstream told of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from receiver.kernel.store.db import Db, new_id
from receiver.lifecycle.rows import events
from receiver.lifecycle.rows.events import RELAY_TASK
from receiver.outbox.rows import outbox


def notice(
    db: Db,
    kind: str,
    about: str,
    fields: Mapping[str, Any],
    recipients: list[str],
    held: Mapping[str, str],
    now: float,
) -> str:
    """The event of `kind` about the downstream `about`, and its deliveries; its id."""
    event_id = new_id("evt")
    document = {
        "event_id": event_id,
        "type": kind,
        "task_id": RELAY_TASK,
        "kind": "relay",
        "state": kind,
        **fields,
        "occurred_at": now,
    }
    events.insert_notice(db, RELAY_TASK, f"{kind}:{about}:{now}", document)
    told = [(to, "held" if to in held else "pending") for to in recipients]
    outbox.insert_deliveries(db, RELAY_TASK, event_id, told, now, held)
    return event_id
