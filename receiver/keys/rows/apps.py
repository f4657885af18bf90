"""Apps' rows: an app owns the tasks its keys make, its turns in the submit queue and its
limits; its keys are only its credentials (keys.py). A deleted app keeps its row, so that
its tasks stay its own, and its keys are revoked with it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from receiver.kernel.errors import Conflict, NotFound
from receiver.kernel.store.db import Db, Sql


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
    alert_downstream: str | None = None  # its downstream its endpoints' alerts go to


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
    return AppRow(
        r["id"],
        r["name"],
        settings,
        r["created_at"],
        int(r["keys"]),
        framing,
        r["alert_downstream"],
    )


INSERT_APP = Sql(
    "INSERT INTO apps (id, name, weight, max_queued, max_per_day, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)


def create(db: Db, name: str, settings: AppSettings, now: float) -> AppRow:
    """A new app; Conflict when a live app has the name."""
    app_id = "app_" + os.urandom(12).hex()
    made = db.execute(
        INSERT_APP,
        (app_id, name, settings.weight, settings.max_queued, settings.max_per_day, now),
    )
    if not made:
        raise Conflict(f"an app named {name!r} exists; delete it first, or choose another name")
    return AppRow(app_id, name, settings, now, 0)


_APP_COLUMNS = (
    "SELECT a.id, a.name, a.weight, a.max_queued, a.max_per_day, a.created_at,"
    " a.portal_frame_ancestors, a.alert_downstream,"
    " (SELECT COUNT(*) FROM api_keys k WHERE k.app_id = a.id AND k.revoked_at IS NULL) AS keys"
    " FROM apps a"
)

APP_NAMED = Sql(_APP_COLUMNS + " WHERE a.name = ? AND a.deleted_at IS NULL")


def named(db: Db, name: str) -> AppRow | None:
    found = db.one(APP_NAMED, (name,))
    return None if found is None else _row(found)


def must(db: Db, name: str) -> AppRow:
    found = named(db, name)
    if found is None:
        raise NotFound("no app of that name")
    return found


LIVE_APPS = Sql(_APP_COLUMNS + " WHERE a.deleted_at IS NULL ORDER BY a.name")


def live(db: Db) -> list[AppRow]:
    return [_row(r) for r in db.all(LIVE_APPS)]


APP_NAMES = Sql("SELECT id, name FROM apps WHERE id = ANY(?)")


def names(db: Db, app_ids: list[str]) -> dict[str, str]:
    """Each app's name by its id, deleted ones too."""
    if not app_ids:
        return {}
    return {r["id"]: r["name"] for r in db.all(APP_NAMES, (db.array(app_ids),))}


DELETE_APP = Sql("UPDATE apps SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL")

REVOKE_APP_KEYS = Sql("UPDATE api_keys SET revoked_at = ? WHERE app_id = ? AND revoked_at IS NULL")

SET_PORTAL_FRAMING = Sql(
    "UPDATE apps SET portal_frame_ancestors = ? WHERE id = ? AND deleted_at IS NULL"
)


def set_framing(db: Db, app_id: str, origins: tuple[str, ...]) -> None:
    db.execute(SET_PORTAL_FRAMING, (" ".join(origins) or None, app_id))


# The app a portal session or link rests on: live, with its framing and the oldest of its
# live keys made at or before the session began (NULL: none, so the session has ended).
PORTAL_APP = Sql(
    "SELECT a.id, a.name, a.portal_frame_ancestors, (SELECT k.id FROM api_keys k"
    " WHERE k.app_id = a.id AND k.revoked_at IS NULL AND k.created_at <= ?"
    " ORDER BY k.created_at, k.id LIMIT 1) AS key_id"
    " FROM apps a WHERE a.id = ? AND a.deleted_at IS NULL"
)


def portal_app(db: Db, app_id: str, since: float) -> PortalApp | None:
    """The live app, if a key of it made at or before `since` is live still."""
    found = db.one(PORTAL_APP, (since, app_id))
    if found is None or found["key_id"] is None:
        return None
    framing = _origins(found["portal_frame_ancestors"])
    return PortalApp(found["id"], found["name"], framing, found["key_id"])


def delete(db: Db, app_id: str, now: float) -> None:
    """The app deleted and its every key revoked, in the caller's transaction."""
    db.execute(DELETE_APP, (now, app_id))
    db.execute(REVOKE_APP_KEYS, (now, app_id))
