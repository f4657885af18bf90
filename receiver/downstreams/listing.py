"""Downstreams a page at a time, read through the store's indexes: an app's own through the
index of its names (no other app's row is read), every one for the admin along the primary
key, the config file's merged in by name. The API, the console and the portal page alike.

A cursor is opaque to its reader: where each of the two lists (the store's, the config
file's) stopped, so that a page goes on from there whatever order the database's collation
gives the names."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

import orjson

from receiver.downstreams import manage as managed
from receiver.downstreams import transactions
from receiver.downstreams.directory import Directory, Found
from receiver.downstreams.rows import DownstreamHealth, ManagedRow, Wanted
from receiver.kernel.errors import InvalidRequest
from receiver.kernel.store import Store
from receiver.outbox.rules.delivery import owned_name

LIMIT_MAX = 100  # a page's rows at most, and by default
_CURSOR_MAX = 512


@dataclass(frozen=True)
class Position:
    """Where a page starts: after these names ('': from the first)."""

    made: str = ""  # the last made through the API that was listed (as kept)
    configured: str = ""  # the config file's last listed


def cursor_of(position: Position) -> str:
    text = orjson.dumps([position.made, position.configured])
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def position_of(cursor: str | None) -> Position:
    """Where `cursor` stands; 422, in words, for anything but a cursor this list gave."""
    if not cursor:
        return Position()
    refused = InvalidRequest("cursor: not a cursor of this list (pass its `next_cursor` as is)")
    if len(cursor) > _CURSOR_MAX:
        raise refused
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        found = orjson.loads(base64.b64decode(padded, altchars=b"-_", validate=True))
    except (binascii.Error, ValueError):
        raise refused from None
    if not (isinstance(found, list) and len(found) == 2 and all(isinstance(n, str) for n in found)):
        raise refused
    return Position(found[0], found[1])


def checked_limit(limit: int) -> int:
    if not 1 <= limit <= LIMIT_MAX:
        raise InvalidRequest(f"limit: from 1 to {LIMIT_MAX}; {limit} given")
    return limit


@dataclass(frozen=True)
class Page:
    """A page's downstreams in order (their health records), the rows of those made through
    the API, each as the directory opened it, and where the next page starts (None: this is
    the last)."""

    health: list[DownstreamHealth]
    rows: dict[str, ManagedRow]
    next: Position | None
    found: dict[str, Found] = field(default_factory=dict)


async def read_page(
    store: Store,
    directory: Directory,
    owner: str | None,
    at: Position,
    limit: int,
    search: str = "",
) -> Page:
    """The page after `at` of the downstreams whose name holds `search`: of the app `owner`
    by the names it gave them ('': none; a key's `Caller.owner_filter`), or every one (None)."""
    if owner is None:
        prefix = None
        configured = sorted(
            n for n in directory.configured if n > at.configured and search.lower() in n.lower()
        )
    elif owner:
        prefix, configured = owned_name(owner, ""), []
    else:  # a key of no app sees no downstream
        return Page([], {}, None)
    wanted = Wanted(prefix, at.made, limit, search)
    made, health, more = await transactions.page(store, wanted, configured)
    rows = {row.name: row for row in made}
    found = await directory.found([h.name for h in health], rows)  # opened from its rows
    last_made = next((h.name for h in reversed(health) if h.name in rows), at.made)
    ours = directory.configured
    last_configured = next((h.name for h in reversed(health) if h.name in ours), None)
    after = Position(last_made, at.configured if last_configured is None else last_configured)
    # One whose settings no longer pass is not listed (the directory says why, in its log).
    shown = [h for h in health if h.name in found]
    return Page(shown, rows, after if more else None, found)


def described(directory: Directory, page: Page, now: float) -> list[dict[str, Any]]:
    """Each of the page's downstreams as the API answers it (its name as kept)."""
    return [
        {
            **directory.summary(h),
            **managed.describe_any(page.found[h.name], page.rows.get(h.name), now),
        }
        for h in page.health
    ]
