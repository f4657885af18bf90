"""Which downstreams get an outbox row for an event, and in what state it waits.

Pure: the store reads which downstreams are disabled and whether the event's files are being
copied, and writes one row per answer of `recipients`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

RowState = Literal["pending", "held", "mirroring"]

# Why the rows of a downstream made through the API wait, when its secret (or URL) was
# sealed under a key this relay no longer has; they go out once it can be opened again.
SECRET_HELD = "its secret cannot be opened: set previous_secret_envs or rotate the secret"

# The lane of every task's own webhook (`webhook` on submit): one name, never a downstream's.
TASK_WEBHOOK = "task-webhook"


# A downstream made with an app's key is the app's: its name is kept as `<app id>.<name>`,
# so that names are unique per app (one app's `hooks` is not another's) while every table,
# lane and outbox row keeps one name per downstream. No other downstream may be named so.
_OWNED = re.compile(r"^((?:app|key)_[0-9a-f]{24})\.(.+)$")
NAME_MAX = 64  # as every downstream's


def owned_name(app_id: str, name: str) -> str:
    """The name an app's downstream `name` is kept under."""
    return f"{app_id}.{name}"


def owner_of(kept: str) -> str | None:
    """The app a downstream belongs to (None: global, every task's)."""
    found = _OWNED.match(kept)
    return found[1] if found else None


def shown_name(kept: str) -> str:
    """The name its app knows it by."""
    found = _OWNED.match(kept)
    return found[2] if found else kept


def looks_owned(name: str) -> bool:
    """A name only an app's downstream may be kept under."""
    return _OWNED.match(name) is not None


@dataclass(frozen=True)
class Subscription:
    """What a downstream takes: task states (and relay notices), and, when it names
    channels, only the tasks that name one of them."""

    events: frozenset[str]
    channels: frozenset[str] = frozenset()
    # Why its rows wait `held` whatever the state (None: they do not): it cannot be used.
    held: str | None = None
    owner: str | None = None  # the app whose tasks alone it takes (None: every task)


Subscriptions = Mapping[str, Subscription]


@dataclass(frozen=True)
class TaskRoute:
    """What a task asked for itself: its channels, and its own webhook's states (None: no
    webhook)."""

    channels: frozenset[str] = frozenset()
    webhook_events: frozenset[str] | None = None
    owner: str | None = None  # the app that made the task (None: the admin token)


def takes(sub: Subscription, state: str, route: TaskRoute) -> bool:
    """Whether a downstream gets this task's event: it is global or the task's app's, it
    takes the state, and it names no channels or one of the task's."""
    if sub.owner is not None and sub.owner != route.owner:
        return False
    return state in sub.events and (not sub.channels or bool(sub.channels & route.channels))


# Every state an outbox row can be in: the first ones above, where attempts leave it, and
# `superseded`: a progress event not yet sent when the task ended.
# `filtered`: its downstream's filter did not take the event (last_error says why).
DELIVERY_STATES = (
    "pending",
    "mirroring",
    "held",
    "succeeded",
    "dead",
    "superseded",
    "filtered",
)


def recipients(
    state: str,
    subscriptions: Subscriptions,
    disabled: set[str],
    copying: bool,
    route: TaskRoute = TaskRoute(),
) -> list[tuple[str, RowState]]:
    """Each downstream that takes the event, with its row's first state: `held` while the
    downstream is disabled or cannot be used, `mirroring` while the event's files are being
    copied, else `pending`; and the task's own webhook when it takes the state."""
    waiting: RowState = "mirroring" if copying else "pending"
    out: list[tuple[str, RowState]] = [
        (name, "held" if name in disabled or sub.held else waiting)
        for name, sub in subscriptions.items()
        if takes(sub, state, route)
    ]
    if route.webhook_events is not None and state in route.webhook_events:
        out.append((TASK_WEBHOOK, waiting))
    return out


def held_reasons(subscriptions: Subscriptions) -> dict[str, str]:
    """Why each downstream that cannot be used has its rows held, kept on each row."""
    return {name: sub.held for name, sub in subscriptions.items() if sub.held}


def waits_for_mirror(mirroring: bool, state: str, files: list[str]) -> bool:
    """Whether an event's deliveries wait for a copy of its files: only a success that has
    files, and only while mirroring is on."""
    return mirroring and state == "succeeded" and bool(files)


def notified_of(event: str, about: str, subscriptions: Subscriptions) -> list[str]:
    """The downstreams told of a relay event (`downstream.disabled`) about another one."""
    return [
        name
        for name, sub in subscriptions.items()
        if name != about
        and event in sub.events
        and (sub.owner is None or sub.owner == owner_of(about))  # an app hears of its own
    ]
