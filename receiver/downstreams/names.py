"""A downstream's name as people read and type it: an app's as `APP/NAME` (the app's name,
then the name the app gave it), the config file's and the admin's global ones as they are;
and back, from what someone typed to the name the store keeps it under (`app_<id>.NAME`,
receiver/outbox/rules/delivery.py). The command line names them so; any page that shows
the internal id can too."""

from __future__ import annotations

from collections.abc import Iterable

from receiver.downstreams import transactions
from receiver.kernel.errors import NotFound
from receiver.kernel.store import Store
from receiver.keys.transactions import apps
from receiver.outbox.rules.delivery import DownstreamLabels, owned_name, owner_of


async def shown_names(store: Store, kept: Iterable[str]) -> dict[str, str]:
    """Each kept name as people read it (an app's by its app's name, deleted apps too)."""
    names = set(kept)
    owners = sorted({owner for name in names if (owner := owner_of(name))})
    label = DownstreamLabels(await apps.names(store, owners))
    return {name: label(name) for name in names}


def app_and_name(typed: str) -> tuple[str, str] | None:
    """`APP/NAME` split in two; None for a global name (no `/` is in any name)."""
    app, slash, name = typed.partition("/")
    return (app, name) if slash and app and name else None


async def kept_name(store: Store, typed: str) -> str:
    """The name the store keeps for `typed`: `APP/NAME` as its app's, a global name (or a
    kept one) as it is. NotFound, in words, when APP names no live app."""
    split = app_and_name(typed)
    if split is None:
        if "/" in typed:
            raise NotFound(f"no downstream named {typed!r}: an app's is named APP/NAME")
        return typed
    app, name = split
    try:
        owner = await apps.named(store, app)
    except NotFound:
        raise NotFound(f"no downstream named {typed!r}: there is no app {app!r}") from None
    return owned_name(owner.id, name)


async def also_named(store: Store, typed: str) -> list[str]:
    """The apps' downstreams named `typed` (as their app knows them), as `APP/NAME`: what a
    global name that is not there may have meant."""
    shown = await shown_names(store, await transactions.owned_called(store, typed))
    return sorted(shown.values())
