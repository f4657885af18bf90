"""An app's task-webhook keys in the store: read, made at their first need (the first
process's kept when two make them at once) and rotated. The only writer of
`app_webhook_keys`."""

from __future__ import annotations

import time

from receiver.kernel.store import Store
from receiver.kernel.store.db import Db
from receiver.keys.rows import webhook_keys
from receiver.keys.rows.webhook_keys import WebhookKeysRow


async def of(store: Store, app_id: str) -> WebhookKeysRow | None:
    return await store.read(lambda db: webhook_keys.one(db, app_id))


async def made(store: Store, app_id: str, sealed: str) -> WebhookKeysRow:
    """The app's keys: `sealed` kept when it had none yet."""

    def write(db: Db) -> WebhookKeysRow:
        webhook_keys.make(db, app_id, sealed, time.time())
        row = webhook_keys.one(db, app_id)
        assert row is not None  # made just now, or before
        return row

    return await store.run(write)


async def rotate(store: Store, app_id: str, sealed: str, overlap: float) -> WebhookKeysRow:
    """`sealed` signs from now on; the pair it replaces signs too for `overlap` seconds.
    The app's keys are made first when it had none."""

    def write(db: Db) -> WebhookKeysRow:
        now = time.time()
        if webhook_keys.one(db, app_id) is None:
            webhook_keys.make(db, app_id, sealed, now)
        else:
            webhook_keys.rotate(db, app_id, sealed, now + overlap, now)
        row = webhook_keys.one(db, app_id)
        assert row is not None
        return row

    return await store.run(write)
