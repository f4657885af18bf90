"""The downstreams table, written here only: each downstream's health (disabled or not,
failing since when, its breaker) and the downstreams made through the API (their settings
and sealed secrets, each change numbered). Shared by every replica: one disabled by one is
disabled for all. The store keeps what it is given; the sealing is decided above it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

import orjson

from receiver.kernel.errors import Conflict, NotFound
from receiver.kernel.store.db import Db, Sql, record
from receiver.outbox.rules.delivery import DELIVERY_STATES

DISABLED = "downstream.disabled"


@dataclass(frozen=True)
class DownstreamHealth:
    name: str
    disabled_at: float | None
    disabled_reason: str | None
    failing_since: float | None
    breaker: str
    breaker_changed_at: float | None
    deliveries: dict[str, int]
    dead_since_success: int = 0  # dead letters since its last attempt that went through
    # Its filter failed at run time (not a refusal): how often, the last reason, when.
    filter_failures: int = 0
    filter_failure: str | None = None
    filter_failed_at: float | None = None
    # The format of one made through the API ('': the config file's, as its settings say):
    # whether it is read by pull, known without opening its seals.
    format: str = ""

    def summary(self) -> dict[str, Any]:
        """Its fields, and whether it is disabled (not `asdict`'s deep copy: a page lists a
        hundred, and nothing changes them)."""
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "format"}
        return {**shown, "disabled": self.disabled_at is not None}


REGISTER_DOWNSTREAM = Sql("INSERT INTO downstreams (name) VALUES (?) ON CONFLICT (name) DO NOTHING")


def register(db: Db, names: list[str]) -> None:
    """A row for every configured downstream (existing rows keep their state)."""
    for name in names:
        db.execute(REGISTER_DOWNSTREAM, (name,))


DOWNSTREAMS = Sql("SELECT * FROM downstreams")

# Read from the (state, downstream) index alone (a column beside them, read in the same pass,
# would make it five times as costly on a big outbox: docs/performance.md).
DELIVERIES_BY_DOWNSTREAM = Sql(
    "SELECT downstream, state, COUNT(*) AS n FROM deliveries GROUP BY downstream, state"
)
# Its dead letters since its last success (every attempt since `failing_since` failed), asked
# of a failing downstream only: its dead rows, through the index. One statement a downstream,
# not one correlated query for all: PostgreSQL guesses the rows of a small table it has never
# analysed, and the guess set it compiling that query (JIT), 0.7 s for a 50 ms read.
DEAD_SINCE = Sql(
    "SELECT COUNT(*) AS n FROM deliveries WHERE state = 'dead' AND downstream = ?"
    " AND updated_at >= ?"
)


# A page's: its rows by name, its deliveries counted through the (state, downstream) index,
# one probe a state and name.
DOWNSTREAMS_NAMED = Sql("SELECT * FROM downstreams WHERE name = ANY(?)")
DELIVERIES_OF = Sql(
    "SELECT downstream, state, COUNT(*) AS n FROM deliveries"
    " WHERE state = ANY(?) AND downstream = ANY(?) GROUP BY downstream, state"
)
# Up to this many names are read one by one; more, in one pass over each table.
_FEW = 200


def health(db: Db, names: list[str]) -> list[DownstreamHealth]:
    few = len(names) <= _FEW
    named = (db.array(names),)
    rows = {
        r["name"]: r for r in (db.all(DOWNSTREAMS_NAMED, named) if few else db.all(DOWNSTREAMS))
    }
    counts: dict[str, dict[str, int]] = {}
    by_state = (db.array(DELIVERY_STATES), *named)
    for r in db.all(DELIVERIES_OF, by_state) if few else db.all(DELIVERIES_BY_DOWNSTREAM):
        counts.setdefault(r["downstream"], {})[r["state"]] = r["n"]
    out = []
    for name in names:
        row = rows.get(name, {})
        since = row.get("failing_since")
        dead = db.one(DEAD_SINCE, (name, since)) if since is not None else None
        out.append(
            DownstreamHealth(
                name=name,
                disabled_at=row.get("disabled_at"),
                disabled_reason=row.get("disabled_reason"),
                failing_since=since,
                breaker=row.get("breaker") or "closed",
                breaker_changed_at=row.get("breaker_changed_at"),
                deliveries=counts.get(name, {}),
                dead_since_success=int(dead["n"]) if dead else 0,
                filter_failures=row.get("filter_failures") or 0,
                filter_failure=row.get("filter_failure"),
                filter_failed_at=row.get("filter_failed_at"),
                format=_format(row.get("spec")),
            )
        )
    return out


def _format(spec: str | None) -> str:
    return str(orjson.loads(spec).get("format") or "webhook") if spec else ""


FILTER_FAILED = Sql(
    "UPDATE downstreams SET filter_failures = filter_failures + 1, filter_failure = ?,"
    " filter_failed_at = ? WHERE name = ?"
)


def filter_failed(db: Db, name: str, reason: str, now: float) -> None:
    """Its filter failed on an event: counted, with the reason."""
    db.execute(FILTER_FAILED, (reason, now, name))


DOWNSTREAM_FAILING = Sql(
    "UPDATE downstreams SET failing_since = COALESCE(failing_since, ?) WHERE name = ?"
)

DOWNSTREAM_FAILURE = Sql("SELECT failing_since, disabled_at FROM downstreams WHERE name = ?")


def mark_failing(db: Db, name: str, now: float) -> tuple[float, bool] | None:
    """Keep when the downstream started failing: (since when, whether it is disabled)."""
    db.execute(DOWNSTREAM_FAILING, (now, name))
    row = db.one(DOWNSTREAM_FAILURE, (name,))
    return (row["failing_since"], row["disabled_at"] is not None) if row else None


DISABLED_REASON = Sql("SELECT disabled_reason FROM downstreams WHERE name = ?")


def disabled_reason(db: Db, name: str) -> str | None:
    """Why it is disabled (None: it is not)."""
    row = db.one(DISABLED_REASON, (name,))
    return row["disabled_reason"] if row else None


# Only a failing one is written: every success would otherwise rewrite the row's page.
DOWNSTREAM_OK = Sql(
    "UPDATE downstreams SET failing_since = NULL WHERE name = ? AND failing_since IS NOT NULL"
)


def mark_ok(db: Db, name: str) -> None:
    """An attempt went through: the downstream is failing no more."""
    db.execute(DOWNSTREAM_OK, (name,))


NOTE_BREAKER = Sql("UPDATE downstreams SET breaker = ?, breaker_changed_at = ? WHERE name = ?")


def note_breaker(db: Db, name: str, state: str, now: float) -> None:
    db.execute(NOTE_BREAKER, (state, now, name))


DISABLE_DOWNSTREAM = Sql(
    "UPDATE downstreams SET disabled_at = ?, disabled_reason = ? WHERE name = ?"
    " AND disabled_at IS NULL"
)


def disable(db: Db, name: str, reason: str, now: float) -> bool:
    """Stop attempting a downstream (its waiting deliveries are held: the deliveries'
    rows'). False when it was disabled already (nothing written)."""
    return bool(db.execute(DISABLE_DOWNSTREAM, (now, reason, name)))


ENABLE_DOWNSTREAM = Sql(
    "UPDATE downstreams SET disabled_at = NULL, disabled_reason = NULL, failing_since = NULL"
    " WHERE name = ?"
)


def enable(db: Db, name: str) -> None:
    """Attempt a downstream again (what it held is the deliveries' rows' to recover)."""
    db.execute(ENABLE_DOWNSTREAM, (name,))


# A write that changes nothing: the row is locked (PostgreSQL) until the transaction ends.
DOWNSTREAM_BUDGET = Sql(
    "UPDATE downstreams SET budget_tokens = budget_tokens WHERE name = ?"
    " RETURNING budget_tokens, budget_at"
)

SET_DOWNSTREAM_BUDGET = Sql(
    "UPDATE downstreams SET budget_tokens = ?, budget_at = ? WHERE name = ?"
)


def budget(db: Db, name: str) -> tuple[float, float]:
    """A downstream's delivery budget, locked until the transaction ends: (tokens, at)."""
    # Every row fetched (one at most), so that SQLite's statement is done before the commit.
    rows = db.all(DOWNSTREAM_BUDGET, (name,))
    return (rows[0]["budget_tokens"], rows[0]["budget_at"]) if rows else (0.0, 0.0)


def set_budget(db: Db, name: str, tokens: float, at: float) -> None:
    db.execute(SET_DOWNSTREAM_BUDGET, (tokens, at, name))


# --- The CloudEvents handshake's verdict ----------------------------------------------------


@dataclass(frozen=True)
class HandshakeRow:
    """The handshake's verdict kept on a downstream, for every replica: what it was asked of
    (receiver/destinations/handshake.py's `asked_of`), its refusal (None: allowed), the
    requests a minute allowed (None: any), when; refused, when it is asked again and after
    how many refusals in a row."""

    of: str
    refusal: str | None
    per_minute: float | None
    asked_at: float
    again_at: float | None = None
    refusals: int = 0


HANDSHAKE = Sql(
    "SELECT handshake_of AS of, handshake_refusal AS refusal, handshake_per_minute AS"
    " per_minute, handshake_asked_at AS asked_at, handshake_again_at AS again_at,"
    " handshake_refusals AS refusals FROM downstreams WHERE name = ? AND handshake_of IS NOT NULL"
)


def handshake(db: Db, name: str) -> HandshakeRow | None:
    row = db.one(HANDSHAKE, (name,))
    return record(HandshakeRow, row) if row else None


NOTE_HANDSHAKE = Sql(
    "UPDATE downstreams SET handshake_of = ?, handshake_refusal = ?, handshake_per_minute = ?,"
    " handshake_asked_at = ?, handshake_again_at = ?, handshake_refusals = ? WHERE name = ?"
)


def note_handshake(db: Db, name: str, verdict: HandshakeRow) -> None:
    v = verdict
    db.execute(
        NOTE_HANDSHAKE, (v.of, v.refusal, v.per_minute, v.asked_at, v.again_at, v.refusals, name)
    )


# Through the partial index of the paused ones (migration 0034): no walk of every downstream.
HANDSHAKES_DUE = Sql("SELECT name FROM downstreams WHERE handshake_again_at <= ?")


def handshakes_due(db: Db, now: float) -> list[str]:
    """The paused downstreams whose endpoint is to be asked again now."""
    return [r["name"] for r in db.all(HANDSHAKES_DUE, (now,))]


TAKE_HANDSHAKE_TURN = Sql(
    "UPDATE downstreams SET handshake_again_at = ? WHERE name = ? AND handshake_again_at <= ?"
)


def take_handshake_turn(db: Db, name: str, now: float, until: float) -> bool:
    """This process asks the endpoint again (none other before `until`); False when another
    took the turn first."""
    return bool(db.execute(TAKE_HANDSHAKE_TURN, (until, name, now)))


# --- The downstreams made through the API -------------------------------------------------


@dataclass(frozen=True)
class ManagedRow:
    name: str
    spec: dict[str, Any]
    sealed_secret: str
    sealed_previous: str | None
    previous_until: float | None
    created_at: float
    changed_at: float


def _row(r: dict[str, Any]) -> ManagedRow:
    return record(ManagedRow, r, spec=orjson.loads(r["spec"]))


@dataclass(frozen=True)
class Changes:
    """What changed among the managed downstreams after a change number, in order."""

    last: int  # the newest change number: read from there next time
    rows: list[ManagedRow]  # made or changed since, as they are now
    removed: list[tuple[int, str]]  # (change number, name) removed since


LAST_DOWNSTREAM_CHANGE = Sql("SELECT seq FROM downstream_changes WHERE id = 1")


def last_change(db: Db) -> int:
    row = db.one(LAST_DOWNSTREAM_CHANGE)
    return int(row["seq"]) if row else 0


# Bounded on both sides: a database that has not analysed the table yet still takes the
# index for a range, where an open one made it read every row.
MANAGED_CHANGED_SINCE = Sql(
    "SELECT * FROM downstreams WHERE spec IS NOT NULL AND change_seq > ? AND change_seq <= ?"
    " ORDER BY change_seq"
)

MANAGED_REMOVED_SINCE = Sql(
    "SELECT change_seq, name FROM downstream_removals WHERE change_seq > ? ORDER BY change_seq"
)


def changes_since(db: Db, seq: int) -> Changes:
    """The managed downstreams made, changed or removed after change `seq`; every one with
    `seq` -1 (a first look, which has nothing to remove)."""
    last = last_change(db)
    if last == seq:
        return Changes(last, [], [])
    rows = [_row(r) for r in db.all(MANAGED_CHANGED_SINCE, (seq, last))]
    removed = db.all(MANAGED_REMOVED_SINCE, (seq,)) if seq >= 0 else []
    return Changes(last, rows, [(int(r["change_seq"]), r["name"]) for r in removed])


# The counter's row stays locked until the change commits (PostgreSQL's row lock,
# SQLite's one writer): numbers are seen in the order they were taken.
NEXT_DOWNSTREAM_CHANGE = Sql("UPDATE downstream_changes SET seq = seq + 1 WHERE id = 1")

NOTE_MANAGED_REMOVAL = Sql("INSERT INTO downstream_removals (change_seq, name) VALUES (?, ?)")

MARK_MANAGED_CHANGE = Sql("UPDATE downstreams SET change_seq = ? WHERE name = ?")


def _changed(db: Db, name: str, removed: bool = False) -> None:
    """The change takes the next number (the counter stays locked until it commits)."""
    db.execute(NEXT_DOWNSTREAM_CHANGE)
    seq = last_change(db)
    if removed:
        db.execute(NOTE_MANAGED_REMOVAL, (seq, name))
    else:
        db.execute(MARK_MANAGED_CHANGE, (seq, name))


MADE_NAMED = Sql("SELECT * FROM downstreams WHERE name = ANY(?) AND spec IS NOT NULL")
# One owner's through the index of the apps' (0036): `app_id` '' is the global ones'.
MADE_OF = Sql("SELECT * FROM downstreams WHERE app_id = ? AND spec IS NOT NULL ORDER BY name")
ANY_OWNED = Sql("SELECT 1 AS one FROM downstreams WHERE app_id > '' AND spec IS NOT NULL LIMIT 1")
# Those an app would call `name` (a hint for a global name that is not there): every row
# read, for the command line's error only.
OWNED_CALLED = Sql(
    "SELECT name FROM downstreams WHERE app_id > '' AND spec IS NOT NULL AND substr(name, 30) = ?"
)
MADE_NAMES = Sql("SELECT name FROM downstreams WHERE spec IS NOT NULL ORDER BY name")


MADE_EXISTS = Sql("SELECT 1 AS one FROM downstreams WHERE name = ? AND spec IS NOT NULL")


def made_exists(db: Db, name: str) -> bool:
    return db.one(MADE_EXISTS, (name,)) is not None


def made_named(db: Db, names: list[str]) -> list[ManagedRow]:
    """Those of `names` made through the API, by their primary key."""
    return [_row(r) for r in db.all(MADE_NAMED, (db.array(names),))] if names else []


def made_of(db: Db, app_id: str) -> list[ManagedRow]:
    """An app's (its id), or the global ones ('')."""
    return [_row(r) for r in db.all(MADE_OF, (app_id,))]


def any_owned(db: Db) -> bool:
    """Some app has a downstream of its own."""
    return db.one(ANY_OWNED) is not None


def owned_called(db: Db, name: str) -> list[str]:
    return [r["name"] for r in db.all(OWNED_CALLED, (name,))]


def made_names(db: Db) -> list[str]:
    return [r["name"] for r in db.all(MADE_NAMES)]


# Through their index (0038), one range on each side of the key (a `<>` is read as a scan of
# every row): those a key other than `?` sealed, or not known yet ('').
SEALED_OTHERWISE = Sql(
    "SELECT name FROM downstreams WHERE spec IS NOT NULL AND sealed_with < ? UNION ALL"
    " SELECT name FROM downstreams WHERE spec IS NOT NULL AND sealed_with > ?"
)
MARK_SEALED = Sql("UPDATE downstreams SET sealed_with = ? WHERE name = ? AND spec IS NOT NULL")


def sealed_otherwise(db: Db, key_id: str) -> list[str]:
    """The names of those whose seals were not all made under the key `key_id`."""
    return sorted(r["name"] for r in db.all(SEALED_OTHERWISE, (key_id, key_id)))


def mark_sealed(db: Db, name: str, key_id: str) -> None:
    """Every seal of it was made under `key_id` ('': not known)."""
    db.execute(MARK_SEALED, (key_id, name))


# A page of them in name order after `after`: every one along the primary key (the admin's),
# or one app's through its index (0034), whose first 29 characters are `<app id>.`; `search`:
# a LIKE pattern their name (an app's: the name it gave) must match.
MADE_PAGE = Sql(
    "SELECT * FROM downstreams WHERE spec IS NOT NULL AND name > ? AND lower(name) LIKE ?"
    " ESCAPE '\\' ORDER BY name LIMIT ?"
)
OWNED_PAGE = Sql(
    "SELECT * FROM downstreams WHERE substr(name, 1, 29) = ? AND name > ?"
    " AND spec IS NOT NULL AND lower(substr(name, 30)) LIKE ? ESCAPE '\\' ORDER BY name LIMIT ?"
)
OWNED_NAMES = Sql(
    "SELECT name FROM downstreams WHERE substr(name, 1, 29) = ? AND spec IS NOT NULL ORDER BY name"
)


@dataclass(frozen=True)
class Wanted:
    """A page of the downstreams made through the API: `prefix` an app's (`<app id>.`; None:
    every one), by name after `after`, those whose name holds `search`."""

    prefix: str | None
    after: str
    limit: int
    search: str = ""

    def pattern(self) -> str:
        """`search` as a LIKE pattern: its own `_` and `%` taken as themselves."""
        escaped = re.sub(r"([\\%_])", r"\\\1", self.search.lower())
        return f"%{escaped}%"


def made_page(db: Db, wanted: Wanted) -> list[ManagedRow]:
    if wanted.prefix is None:
        found = db.all(MADE_PAGE, (wanted.after, wanted.pattern(), wanted.limit))
    else:
        page = (wanted.prefix, wanted.after, wanted.pattern(), wanted.limit)
        found = db.all(OWNED_PAGE, page)
    return [_row(r) for r in found]


def owned_names(db: Db, prefix: str) -> list[str]:
    """Every name one app's downstreams are kept under (`prefix`: `<app id>.`), in order."""
    return [r["name"] for r in db.all(OWNED_NAMES, (prefix,))]


MANAGED_DOWNSTREAM = Sql("SELECT * FROM downstreams WHERE name = ? AND spec IS NOT NULL")


def one_made(db: Db, name: str) -> ManagedRow:
    r = db.one(MANAGED_DOWNSTREAM, (name,))
    if r is None:
        raise NotFound(f"no downstream named {name!r}")
    return _row(r)


CREATE_MANAGED = Sql(
    "UPDATE downstreams SET spec = ?, sealed_secret = ?, sealed_previous = NULL,"
    " previous_until = NULL, created_at = ?, changed_at = ?, app_id = ? WHERE name = ?"
)


def create(
    db: Db,
    name: str,
    app_id: str | None,
    spec: dict[str, Any],
    sealed: tuple[str, str],
    now: float,
) -> ManagedRow:
    """A new one, `app_id`'s (None: global), `sealed`: its secret sealed and the id of the
    key every seal of it was made under; a name taken already is a conflict. The health
    row of a name no longer in the config file is taken over, with its state."""
    sealed_secret, key_id = sealed
    taken = db.one(MANAGED_DOWNSTREAM, (name,))
    if taken is not None:
        raise Conflict(f"a downstream named {name!r} exists already")
    db.execute(REGISTER_DOWNSTREAM, (name,))
    spec_text = orjson.dumps(spec).decode()
    db.execute(CREATE_MANAGED, (spec_text, sealed_secret, now, now, app_id or "", name))
    mark_sealed(db, name, key_id)
    _changed(db, name)
    return one_made(db, name)


# Its seals then not all known to be the newest key's: checked at the next start.
CHANGE_MANAGED = Sql(
    "UPDATE downstreams SET spec = ?, changed_at = ?, sealed_with = '' WHERE name = ?"
    " AND spec IS NOT NULL"
)


def change(db: Db, name: str, spec: dict[str, Any], now: float) -> ManagedRow:
    if not db.execute(CHANGE_MANAGED, (orjson.dumps(spec).decode(), now, name)):
        raise NotFound(f"no downstream named {name!r}")
    _changed(db, name)
    return one_made(db, name)


ROTATE_MANAGED = Sql(
    "UPDATE downstreams SET sealed_secret = ?, sealed_previous = ?, previous_until = ?,"
    " changed_at = ?, sealed_with = '' WHERE name = ? AND spec IS NOT NULL"
)


def rotate(
    db: Db, name: str, sealed_secret: str, sealed_previous: str | None, until: float, now: float
) -> None:
    """A new secret; the one it replaces keeps signing beside it until `until`."""
    changed = db.execute(ROTATE_MANAGED, (sealed_secret, sealed_previous, until, now, name))
    if not changed:
        raise NotFound(f"no downstream named {name!r}")
    _changed(db, name)


RESEAL_MANAGED = Sql("UPDATE downstreams SET sealed_secret = ?, sealed_previous = ? WHERE name = ?")


def reseal(db: Db, name: str, sealed: str, sealed_previous: str | None) -> None:
    """Its secrets sealed anew (under the relay's current key), nothing else changed."""
    db.execute(RESEAL_MANAGED, (sealed, sealed_previous, name))


REMOVE_MANAGED = Sql("DELETE FROM downstreams WHERE name = ? AND spec IS NOT NULL")


def remove(db: Db, name: str) -> None:
    """Gone (what it still had to deliver is the deliveries' rows' to end)."""
    if not db.execute(REMOVE_MANAGED, (name,)):
        raise NotFound(f"no downstream named {name!r}")
    _changed(db, name, removed=True)


# The disabled downstreams with a row still pending, each found through the index of its
# rows by state: an event's transaction that read the downstream before its disable
# committed adds one after the disable held the rest (PostgreSQL: neither sees the other).
STRAYED = Sql(
    "SELECT name FROM downstreams WHERE disabled_at > 0 AND EXISTS (SELECT 1 FROM deliveries"
    " WHERE state = 'pending' AND downstream = downstreams.name)"
)


def strayed(db: Db) -> set[str]:
    """The disabled downstreams with rows pending: theirs to hold."""
    return {r["name"] for r in db.all(STRAYED)}
