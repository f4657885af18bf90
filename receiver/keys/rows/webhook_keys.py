"""An app's task-webhook keys as stored: sealed (receiver/keys/webhook_keys.py opens them),
the pair a rotation replaced beside them until its overlap ends."""

from __future__ import annotations

from dataclasses import dataclass

from receiver.kernel.store.db import Db, Sql


@dataclass(frozen=True)
class WebhookKeysRow:
    app_id: str
    sealed: str
    sealed_previous: str | None
    previous_until: float | None


ONE = Sql(
    "SELECT app_id, sealed, sealed_previous, previous_until FROM app_webhook_keys WHERE app_id = ?"
)
# Two processes making an app's first keys at once: the first one's are kept.
MAKE = Sql(
    "INSERT INTO app_webhook_keys (app_id, sealed, created_at) VALUES (?, ?, ?)"
    " ON CONFLICT (app_id) DO NOTHING"
)
ROTATE = Sql(
    "UPDATE app_webhook_keys SET sealed = ?, sealed_previous = sealed, previous_until = ?,"
    " rotated_at = ? WHERE app_id = ?"
)


def one(db: Db, app_id: str) -> WebhookKeysRow | None:
    row = db.one(ONE, (app_id,))
    if row is None:
        return None
    return WebhookKeysRow(
        row["app_id"], row["sealed"], row["sealed_previous"], row["previous_until"]
    )


def make(db: Db, app_id: str, sealed: str, now: float) -> None:
    db.execute(MAKE, (app_id, sealed, now))


def rotate(db: Db, app_id: str, sealed: str, previous_until: float, now: float) -> None:
    db.execute(ROTATE, (sealed, previous_until, now, app_id))
