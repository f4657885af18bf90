"""An app's portal in the store: the origins that may frame it, a link used at most once
(its id kept with the console's revocations until the link expires), and the app a session
rests on: live, with a key made before the session began that is live still. Revoking the
app's last such key, or deleting the app, so ends every session of its portal."""

from __future__ import annotations

import time

from receiver.kernel.store import Store
from receiver.kernel.store.db import Db
from receiver.keys.rows import apps
from receiver.keys.rows.apps import AppRow, PortalApp
from receiver.keys.stories import sessions


async def set_framing(store: Store, name: str, origins: tuple[str, ...]) -> AppRow:
    """NotFound when no live app has the name."""

    def write(db: Db) -> AppRow:
        app = apps.must(db, name)
        apps.set_framing(db, app.id, origins)
        return apps.must(db, name)

    return await store.run(write)


async def app_of(store: Store, app_id: str, since: float) -> PortalApp | None:
    """The app, while it is live and a key of it made at or before `since` is live."""
    return await store.read(lambda db: apps.portal_app(db, app_id, since))


async def use_once(store: Store, link_id: str, expires_at: float) -> bool:
    """True the first time a link is used, on any replica; False ever after."""
    return await store.run(lambda db: sessions.claim(db, link_id, expires_at, time.time()))
