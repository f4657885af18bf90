"""A downstream's life in the store: registered, its breaker noted, enabled again (what it
held queued anew), and the downstreams made through the API created, changed, rotated,
resealed and removed; their health, and those made, read in one snapshot. Shared by every
replica; disabling one is an attempt's outcome, in delivery.py."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from receiver.downstreams import rows as downstreams
from receiver.downstreams.rows import Changes, DownstreamHealth, HandshakeRow, ManagedRow, Wanted
from receiver.downstreams.rules import merged
from receiver.kernel.errors import NotFound
from receiver.kernel.store import Store
from receiver.kernel.store.db import Db
from receiver.keys.rows import apps as app_rows
from receiver.outbox.rows import outbox
from receiver.outbox.rules.delivery import NOT_VALIDATED, SECRET_HELD, ask_again_in, owner_of


async def register(store: Store, names: list[str]) -> None:
    """A row for every configured downstream (existing rows keep their state)."""
    await store.run(lambda db: downstreams.register(db, names))


async def disabled_and_held(store: Store) -> set[str]:
    """Every disabled downstream, through the index of those (0038): a few among many. The
    rows any of them still has pending are held, as its disable held the others: a row that
    raced the disable was otherwise neither claimed nor held while it stayed disabled."""
    names = await store.read(outbox.disabled_downstreams)
    if names and (strays := await store.read(downstreams.strayed)):
        now = time.time()

        def hold(db: Db) -> None:
            for name in sorted(strays):
                outbox.hold(db, name, now)

        await store.run(hold)
    return names


async def due(store: Store) -> set[str]:
    """The downstreams with deliveries to claim now."""
    return await store.read(lambda db: outbox.due_downstreams(db, time.time()))


async def enable(store: Store, name: str, recover_since: float | None) -> int:
    """Attempt it again: what it held since `recover_since` (None: all of it), and what
    went to dead-letter since then, is queued again, what it held from before
    dead-lettered; how many deliveries were queued anew."""

    def write(db: Db) -> int:
        downstreams.enable(db, name)
        return outbox.recover(db, name, recover_since, time.time())

    return await store.run(write)


async def handshake(store: Store, name: str) -> HandshakeRow | None:
    """The CloudEvents handshake's verdict on it, as every replica sees it (None: never
    asked)."""
    return await store.read(lambda db: downstreams.handshake(db, name))


async def handshake_allowed(store: Store, name: str, of: str, per_minute: float | None) -> int:
    """Its endpoint allowed the relay's CloudEvents (at most `per_minute`): the verdict kept
    for every replica; paused by a refusal, it is attempted again and everything it held
    queued (not one an operator or its failures disabled); how many deliveries."""

    def write(db: Db) -> int:
        now = time.time()
        downstreams.note_handshake(db, name, HandshakeRow(of, None, per_minute, now))
        reason = downstreams.disabled_reason(db, name)
        if reason is None or not reason.startswith(NOT_VALIDATED):
            return 0
        downstreams.enable(db, name)
        return outbox.release_held(db, name, now)

    return await store.run(write)


async def handshakes_due(store: Store) -> list[str]:
    """The paused downstreams whose endpoint is to be asked again now."""
    return await store.read(lambda db: downstreams.handshakes_due(db, time.time()))


async def take_handshake_turn(store: Store, name: str, within: float) -> bool:
    """This process asks a paused downstream's endpoint again, no other for `within`
    seconds; False when another took the turn."""
    now = time.time()
    return await store.run(lambda db: downstreams.take_handshake_turn(db, name, now, now + within))


async def handshake_unanswered(store: Store, name: str, schedule: Sequence[float]) -> None:
    """A paused downstream's endpoint gave no answer when asked again: asked again after the
    wait its refusals so far call for."""

    def write(db: Db) -> None:
        kept = downstreams.handshake(db, name)
        if kept is not None and kept.refusal is not None:
            again = time.time() + ask_again_in(schedule, max(kept.refusals - 1, 0))
            downstreams.note_handshake(db, name, replace(kept, again_at=again))

    await store.run(write)


async def note_breaker(store: Store, name: str, state: str) -> None:
    await store.run(lambda db: downstreams.note_breaker(db, name, state, time.time()))


async def changes_since(store: Store, seq: int) -> Changes:
    """The downstreams made through the API made, changed or removed after change `seq`
    (-1: all of them; one row read when nothing changed)."""
    return await store.read(lambda db: downstreams.changes_since(db, seq))


async def last_change(store: Store) -> int:
    return await store.read(downstreams.last_change)


async def made_named(store: Store, names: list[str]) -> list[ManagedRow]:
    return await store.read(lambda db: downstreams.made_named(db, names))


async def made_named_of_apps(
    store: Store, names: list[str], app_ids: list[str]
) -> tuple[list[ManagedRow], dict[str, str]]:
    """Those of `names` made through the API, and the names of the apps `app_ids` (deleted
    ones too), in one read."""

    def read(db: Db) -> tuple[list[ManagedRow], dict[str, str]]:
        return downstreams.made_named(db, names), app_rows.names(db, app_ids)

    return await store.read(read)


async def made_of(store: Store, app_id: str) -> list[ManagedRow]:
    """An app's own (its id), or the global ones ('')."""
    return await store.read(lambda db: downstreams.made_of(db, app_id))


async def made_names(store: Store) -> list[str]:
    return await store.read(downstreams.made_names)


async def any_owned(store: Store) -> bool:
    return await store.read(downstreams.any_owned)


async def owned_called(store: Store, name: str) -> list[str]:
    """The kept names of the apps' downstreams an app calls `name`."""
    return await store.read(lambda db: downstreams.owned_called(db, name))


async def sealed_otherwise(store: Store, key_id: str) -> list[str]:
    return await store.read(lambda db: downstreams.sealed_otherwise(db, key_id))


async def mark_sealed(store: Store, name: str, key_id: str) -> None:
    await store.run(lambda db: downstreams.mark_sealed(db, name, key_id))


async def held_unopened(store: Store) -> list[str]:
    """The downstreams with deliveries held because their secret did not open."""
    return await store.read(lambda db: outbox.held_for(db, SECRET_HELD))


async def one_made(store: Store, name: str) -> ManagedRow:
    return await store.read(lambda db: downstreams.one_made(db, name))


async def create(
    store: Store, name: str, spec: dict[str, Any], sealed: tuple[str, str]
) -> ManagedRow:
    """A new one, its app's when its name says so (`<app id>.<name>`), else global;
    `sealed`: its sealed secret and the id of the key its seals were made under."""
    return await store.run(
        lambda db: downstreams.create(db, name, owner_of(name), spec, sealed, time.time())
    )


async def change(store: Store, name: str, spec: dict[str, Any]) -> ManagedRow:
    return await store.run(lambda db: downstreams.change(db, name, spec, time.time()))


async def rotate(
    store: Store, name: str, sealed: str, sealed_previous: str | None, overlap: float
) -> None:
    """A new secret; the previous one still signs for `overlap` seconds."""

    def write(db: Db) -> None:
        now = time.time()
        downstreams.rotate(db, name, sealed, sealed_previous, now + overlap, now)

    await store.run(write)


async def reseal(
    store: Store, name: str, sealed: str, sealed_previous: str | None, key_id: str
) -> None:
    """Its secrets sealed anew under `key_id`, every seal of it now that key's."""

    def write(db: Db) -> None:
        downstreams.reseal(db, name, sealed, sealed_previous)
        downstreams.mark_sealed(db, name, key_id)

    await store.run(write)


async def remove(store: Store, name: str, reason: str) -> int:
    """Gone: whatever it still had to deliver ends as a dead letter with `reason`; how many."""

    def write(db: Db) -> int:
        downstreams.remove(db, name)
        return outbox.end_downstream(db, name, reason, time.time())

    return await store.run(write)


async def end_deliveries(store: Store, downstream: str, reason: str) -> int:
    return await store.run(lambda db: outbox.end_downstream(db, downstream, reason, time.time()))


async def follow_unopened(store: Store, unusable: list[str], usable: list[str]) -> None:
    """Downstreams made through the API that can no longer be used have their waiting rows
    held, with the reason; those that can again (the key is back, the secret rotated) send
    what they held for it."""

    def write(db: Db) -> None:
        now = time.time()
        if unusable:
            outbox.hold_unopened(db, unusable, SECRET_HELD, now)
        if usable:
            outbox.release_unopened(db, usable, SECRET_HELD, now)

    await store.run(write)


async def health(store: Store, names: list[str]) -> list[DownstreamHealth]:
    return await store.read(lambda db: downstreams.health(db, names))


async def with_health(store: Store, name: str) -> tuple[ManagedRow | None, DownstreamHealth]:
    """One downstream's row (None: the config file's) and health, in one snapshot."""

    def read(db: Db) -> tuple[ManagedRow | None, DownstreamHealth]:
        (health,) = downstreams.health(db, [name])
        try:
            return downstreams.one_made(db, name), health
        except NotFound:
            return None, health

    return await store.read(read)


async def page(
    store: Store, wanted: Wanted, configured: list[str]
) -> tuple[list[ManagedRow], list[DownstreamHealth], bool]:
    """In one snapshot: a page of the downstreams made through the API (`wanted`, one more
    read than a page), merged by name with the config file's `configured` (those after the
    page's start, in order); the rows, the page's health in its order, whether more follow."""

    def read(db: Db) -> tuple[list[ManagedRow], list[DownstreamHealth], bool]:
        made = downstreams.made_page(db, replace(wanted, limit=wanted.limit + 1))
        names, more = merged([row.name for row in made], configured, wanted.limit)
        listed = set(names)
        return [r for r in made if r.name in listed], downstreams.health(db, names), more

    return await store.read(read)


async def owned_names(store: Store, prefix: str) -> list[str]:
    return await store.read(lambda db: downstreams.owned_names(db, prefix))
