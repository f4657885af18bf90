"""An app's life in the store: made, changed, deleted (its keys revoked with it in the same
transaction, so its streams end as a revoked key's do), and the keys made and revoked as its
credentials. A key made through `POST /v1/keys` is the only key of an app of its own name:
made together, and revoked together when that key goes.

And its portal: the origins that may frame it, a link used at most once, and the app a
session rests on (live, with a key made before the session began that is live still)."""

from __future__ import annotations

import time
from dataclasses import asdict, replace

from receiver.kernel.store import Store
from receiver.kernel.store.db import Db, Sql
from receiver.keys.rows import apps, keys
from receiver.keys.rows.apps import AppRow, AppSettings, PortalApp
from receiver.keys.rows.keys import KeyRow, NewKey
from receiver.keys.transactions import sessions


async def create(store: Store, name: str, settings: AppSettings) -> AppRow:
    """Conflict when a live app has the name."""
    return await store.run(lambda db: apps.create(db, name, settings, time.time()))


async def named(store: Store, name: str) -> AppRow:
    """NotFound when no live app has the name."""
    return await store.read(lambda db: apps.must(db, name))


async def live(store: Store) -> list[AppRow]:
    return await store.read(apps.live)


async def names(store: Store, app_ids: list[str]) -> dict[str, str]:
    return await store.read(lambda db: apps.names(db, app_ids))


CHANGE_APP = Sql(
    "UPDATE apps SET weight = ?, max_queued = ?, max_per_day = ?"
    " WHERE id = ? AND deleted_at IS NULL"
)


async def change(store: Store, name: str, settings: AppSettings) -> AppRow:
    def write(db: Db) -> AppRow:
        app = apps.must(db, name)
        db.execute(CHANGE_APP, (settings.weight, settings.max_queued, settings.max_per_day, app.id))
        return apps.must(db, name)

    return await store.run(write)


async def delete(store: Store, name: str) -> AppRow:
    """The app deleted and its keys revoked; NotFound when no live app has the name."""

    def write(db: Db) -> AppRow:
        app = apps.must(db, name)
        apps.delete(db, app.id, time.time())
        return app

    return await store.run(write)


async def add_key(store: Store, app_name: str, new: NewKey) -> KeyRow:
    """A new key of the app; NotFound (no app), Conflict (a live key has the name)."""

    def write(db: Db) -> KeyRow:
        app = apps.must(db, app_name)
        made = keys.create(db, replace(new, **asdict(app.settings), app_id=app.id), time.time())
        return _with_app(made, app)

    return await store.run(write)


async def key_alone(store: Store, new: NewKey) -> KeyRow:
    """`POST /v1/keys`: an app of the key's name, with its weight and limits, whose only key
    it is; Conflict when a live app or key has the name."""

    def write(db: Db) -> KeyRow:
        now = time.time()
        settings = AppSettings(new.weight, new.max_queued, new.max_per_day)
        app = apps.create(db, new.name, settings, now)
        made = keys.create(db, replace(new, app_id=app.id), now)
        return _with_app(made, app)

    return await store.run(write)


async def revoke_key(store: Store, name: str, app_name: str | None) -> None:
    """Revoke the live key of that name: of that app (`DELETE /v1/apps/{app}/keys/{name}`),
    whose app stays; or any app's (`DELETE /v1/keys/{name}`), whose app of the same name is
    deleted with its last key, as the key alone was before apps. NotFound when none is."""

    def write(db: Db) -> None:
        now = time.time()
        app_id = None if app_name is None else apps.must(db, app_name).id
        revoked = keys.revoke(db, name, now, app_id)
        if app_name is None and revoked.keys_left == 0 and revoked.app == name:
            apps.delete(db, revoked.app_id, now)

    await store.run(write)


def _with_app(row: KeyRow, app: AppRow) -> KeyRow:
    return replace(row, **asdict(app.settings), app_id=app.id, app=app.name)


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
