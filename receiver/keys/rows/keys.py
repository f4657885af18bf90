"""API keys' rows: the store keeps what it is given (a hash, never a key); what a key may
do is decided above it (receiver/keys/rules.py)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from receiver.kernel.errors import Conflict, NotFound
from receiver.kernel.store.db import Db, Sql, record


@dataclass(frozen=True)
class NewKey:
    name: str
    digest: str
    scopes: list[str]
    weight: int
    max_queued: int | None = None
    max_per_day: int | None = None
    app_id: str = ""  # the app it is a credential of


@dataclass(frozen=True)
class KeyRow:
    id: str
    name: str
    digest: str
    scopes: list[str]
    created_at: float
    last_used_at: float | None
    weight: int  # its tasks' share of the submit queue's turns
    max_queued: int | None = None  # its tasks open at once (None: no limit)
    max_per_day: int | None = None  # the tasks it makes in 24 hours (None: no limit)
    app_id: str = ""  # the app whose credential it is: weight and limits are the app's
    app: str = ""  # that app's name


def _row(r: dict[str, Any]) -> KeyRow:
    return record(KeyRow, r, scopes=orjson.loads(r["scopes"]))


INSERT_KEY = Sql(
    "INSERT INTO api_keys (id, name, digest, scopes, created_at, weight, max_queued,"
    " max_per_day, app_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)


def create(db: Db, new: NewKey, now: float) -> KeyRow:
    key_id = "key_" + os.urandom(12).hex()
    scopes = orjson.dumps(new.scopes).decode()
    made = db.execute(
        INSERT_KEY,
        (
            key_id,
            new.name,
            new.digest,
            scopes,
            now,
            new.weight,
            new.max_queued,
            new.max_per_day,
            new.app_id,
        ),
    )
    if not made:
        raise Conflict(f"a key named {new.name!r} exists; revoke it first, or choose another name")
    return KeyRow(id=key_id, created_at=now, last_used_at=None, **asdict(new))


_KEY_COLUMNS = (
    "SELECT k.id, k.name, k.digest, k.scopes, k.created_at, k.last_used_at, a.weight,"
    " a.max_queued, a.max_per_day, k.app_id, a.name AS app"
    " FROM api_keys k JOIN apps a ON a.id = k.app_id"
)

KEY_BY_DIGEST = Sql(
    _KEY_COLUMNS + " WHERE k.digest = ANY(?) AND k.revoked_at IS NULL AND a.deleted_at IS NULL"
)


def by_digest(db: Db, digests: list[str]) -> KeyRow | None:
    found = db.one(KEY_BY_DIGEST, (db.array(digests),))
    return None if found is None else _row(found)


LIVE_KEYS = Sql(
    _KEY_COLUMNS + " WHERE k.revoked_at IS NULL AND a.deleted_at IS NULL"
    " AND (CAST(? AS TEXT) IS NULL OR k.app_id = ?) ORDER BY k.name"
)


def live(db: Db, app_id: str | None = None) -> list[KeyRow]:
    """Every live key of a live app; of one app if given."""
    return [_row(r) for r in db.all(LIVE_KEYS, (app_id, app_id))]


@dataclass(frozen=True)
class Revoked:
    key_id: str
    app_id: str
    app: str  # its app's name
    keys_left: int  # the app's live keys after this one


LIVE_KEY_NAMED = Sql(
    "SELECT k.id, k.app_id, a.name AS app FROM api_keys k JOIN apps a ON a.id = k.app_id"
    " WHERE k.name = ? AND k.revoked_at IS NULL AND (CAST(? AS TEXT) IS NULL OR k.app_id = ?)"
)

REVOKE_KEY = Sql("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")


def revoke(db: Db, name: str, now: float, app_id: str | None = None) -> Revoked:
    """Revoke the live key of that name (of that app, if given); NotFound when none is."""
    found = db.one(LIVE_KEY_NAMED, (name, app_id, app_id))
    if found is None:
        raise NotFound("no key of that name")
    db.execute(REVOKE_KEY, (now, found["id"]))
    left = len(db.all(LIVE_KEYS, (found["app_id"], found["app_id"])))
    return Revoked(found["id"], found["app_id"], found["app"], left)


KEY_LIVE = Sql("SELECT 1 AS live FROM api_keys WHERE id = ? AND revoked_at IS NULL")


def is_live(db: Db, key_id: str) -> bool:
    return db.one(KEY_LIVE, (key_id,)) is not None
