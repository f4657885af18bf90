"""Apps' rows: an app owns the tasks its keys make, its turns in the submit queue and its
limits; its keys are only its credentials (keys.py). A deleted app keeps its row, so that
its tasks stay its own, and its keys are revoked with it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from receiver.errors import Conflict, NotFound
from receiver.persist.db import Db


@dataclass(frozen=True)
class AppSettings:
    weight: int = 1
    max_queued: int | None = None
    max_per_day: int | None = None


@dataclass(frozen=True)
class AppRow:
    id: str
    name: str
    settings: AppSettings
    created_at: float
    keys: int  # its live keys
    frame_ancestors: tuple[str, ...] = ()  # the origins that may frame its portal


@dataclass(frozen=True)
class PortalApp:
    """The app a portal session rests on, and a live key of it made before that session."""

    id: str
    name: str
    frame_ancestors: tuple[str, ...]
    key_id: str


def _origins(value: str | None) -> tuple[str, ...]:
    return tuple(value.split()) if value else ()


def _row(r: dict[str, Any]) -> AppRow:
    settings = AppSettings(r["weight"], r["max_queued"], r["max_per_day"])
    framing = _origins(r["portal_frame_ancestors"])
    return AppRow(r["id"], r["name"], settings, r["created_at"], int(r["keys"]), framing)


def create(db: Db, name: str, settings: AppSettings, now: float) -> AppRow:
    """A new app; Conflict when a live app has the name."""
    app_id = "app_" + os.urandom(12).hex()
    made = db.execute(
        db.sql.INSERT_APP,
        (app_id, name, settings.weight, settings.max_queued, settings.max_per_day, now),
    )
    if not made:
        raise Conflict(f"an app named {name!r} exists; delete it first, or choose another name")
    return AppRow(app_id, name, settings, now, 0)


def named(db: Db, name: str) -> AppRow | None:
    found = db.one(db.sql.APP_NAMED, (name,))
    return None if found is None else _row(found)


def must(db: Db, name: str) -> AppRow:
    found = named(db, name)
    if found is None:
        raise NotFound("no app of that name")
    return found


def live(db: Db) -> list[AppRow]:
    return [_row(r) for r in db.all(db.sql.LIVE_APPS)]


def names(db: Db, app_ids: list[str]) -> dict[str, str]:
    """Each app's name by its id, deleted ones too."""
    if not app_ids:
        return {}
    return {r["id"]: r["name"] for r in db.all(db.sql.APP_NAMES, (db.array(app_ids),))}


def set_framing(db: Db, app_id: str, origins: tuple[str, ...]) -> None:
    db.execute(db.sql.SET_PORTAL_FRAMING, (" ".join(origins) or None, app_id))


def portal_app(db: Db, app_id: str, since: float) -> PortalApp | None:
    """The live app, if a key of it made at or before `since` is live still."""
    found = db.one(db.sql.PORTAL_APP, (since, app_id))
    if found is None or found["key_id"] is None:
        return None
    framing = _origins(found["portal_frame_ancestors"])
    return PortalApp(found["id"], found["name"], framing, found["key_id"])


def change(db: Db, app_id: str, settings: AppSettings) -> None:
    db.execute(
        db.sql.CHANGE_APP,
        (settings.weight, settings.max_queued, settings.max_per_day, app_id),
    )


def delete(db: Db, app_id: str, now: float) -> None:
    """The app deleted and its every key revoked, in the caller's transaction."""
    db.execute(db.sql.DELETE_APP, (now, app_id))
    db.execute(db.sql.REVOKE_APP_KEYS, (now, app_id))
