"""Who gets what: which downstreams get an outbox row for an event and in what state it
waits, the document every delivery of the event carries, and progress events (when a
running task's progress is worth telling, how a newer figure takes the place of one not yet
sent, what a terminal event does to those still waiting).

The document is fixed when the event is recorded: every delivery of one event, first
attempt or replay a week later, carries the same one, and rendering for each downstream's
format starts from it.

Pure: the store reads which downstreams are disabled, whether the event's files are being
copied and which progress deliveries still wait, and writes what these decide.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from receiver.lifecycle.rules.polling import end_from_progress
from receiver.lifecycle.rules.task import TERMINAL_STATES, Observation, failure_message, output_of

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


# An app's downstream whose app this process has not read yet (a moment after it was made).
UNNAMED_APP = "(app)"


@dataclass
class DownstreamLabels:
    """Downstreams' labels in the metrics: an app's is `<app>/<name>`, by the names the app
    and its downstream were given, never the id it is kept under (`app_<id>.<name>`)."""

    # Each app's name by its id (the directory of downstreams fills it as it reads them).
    app_names: dict[str, str] = field(default_factory=dict)

    def __call__(self, kept: str) -> str:
        owner = owner_of(kept)
        if owner is None:
            return kept
        return f"{self.app_names.get(owner, UNNAMED_APP)}/{shown_name(kept)}"


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


def sources_of(document: dict[str, Any]) -> list[dict[str, str]]:
    """The files of an event's document a copy is made of, each with its role."""
    role = document.get("output_type") or "video"  # documents before output_type: videos
    found = [{"role": role, "url": url} for url in document.get("outputs") or []]
    if document.get("thumbnail"):
        found.append({"role": "poster", "url": document["thumbnail"]})
    return found


def notified_of(event: str, about: str, subscriptions: Subscriptions) -> list[str]:
    """The downstreams told of a relay event (`downstream.disabled`) about another one."""
    return [
        name
        for name, sub in subscriptions.items()
        if name != about
        and event in sub.events
        and (sub.owner is None or sub.owner == owner_of(about))  # an app hears of its own
    ]


class TaskFacts(Protocol):
    """What the document needs of the task the event is about."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def upstream_task_id(self) -> str | None: ...
    @property
    def outputs(self) -> list[str]: ...
    @property
    def thumbnail(self) -> str | None: ...
    @property
    def point(self) -> float | None: ...
    @property
    def refund(self) -> float | None: ...
    @property
    def metadata(self) -> dict[str, Any] | None: ...


def event_document(
    task: TaskFacts, event_id: str, obs: Observation, source: str, now: float
) -> dict[str, Any]:
    """The public event: what this observation says, with the task's earlier facts where it
    says nothing (an answer without outputs keeps the outputs already known)."""
    failed = obs.state == "failed"
    return {
        "event_id": event_id,
        "task_id": task.id,
        "upstream_task_id": task.upstream_task_id or obs.upstream_task_id,
        "kind": task.kind,
        "state": obs.state,
        "upstream_status": obs.upstream_status,
        "outputs": list(obs.outputs) or task.outputs,
        # Every output of a kind is of one type (task.py; a passed-through kind's is read
        # from its outputs).
        "output_type": output_of(task.kind, list(obs.outputs) or task.outputs),
        "thumbnail": obs.thumbnail or task.thumbnail,
        "error": obs.error,
        "point": obs.point if obs.point is not None else task.point,
        "refund": obs.refund if obs.refund is not None else task.refund,
        "upstream_created_at": obs.upstream_created_at,
        "upstream_updated_at": obs.upstream_updated_at,
        "source": source,
        "occurred_at": now,
        # Runway advises against showing its raw failure text (`error`) to end users: the
        # code says what failed, the message is safe to show.
        "failure_code": obs.failure_code if failed else None,
        "failure_message": failure_message(obs.failure_code) if failed else None,
        # The caller's own data, as given on submit: every event of the task carries it.
        "metadata": task.metadata,
    }


# The event a downstream (its `events`) or a task's webhook (`webhook_events`) subscribes to.
PROGRESS = "progress"
# The webhook format's `type` of a progress event, and the source of its event row.
PROGRESS_TYPE = "task.progress"


@dataclass(frozen=True)
class LastSent:
    """The task's latest progress event: its figure and when it was made."""

    progress: float
    at: float


def progress_due(
    state: str, progress: float | None, last: LastSent | None, now: float, every: float
) -> bool:
    """Whether a report of `progress` on a task now in `state` makes a progress event: only
    while it runs, only a figure above the last one told (so subscribers never see it go
    back), and at most one per `every` seconds."""
    if state != "running" or progress is None or progress <= 0:
        return False
    if last is None:
        return True
    return progress > last.progress and now - last.at >= every


def estimated_end(started_at: float | None, now: float, progress: float) -> str | None:
    """The end the progress since the task was first seen running points to, as an ISO
    8601 time in UTC; None: unknown (not seen running before, or too little progress)."""
    end = None if started_at is None else end_from_progress(started_at, now, progress)
    if end is None:
        return None
    return datetime.fromtimestamp(end, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Waiting:
    """A progress delivery of the task not yet sent: its row, downstream, state, attempts so
    far and lease (None: none)."""

    id: str
    downstream: str
    state: str
    attempts: int
    lease_until: float | None


def replaceable(row: Waiting, now: float) -> bool:
    """A waiting row whose event may still be swapped for a newer one: never attempted, and
    not leased to a worker that may be sending it now."""
    unleased = row.lease_until is None or row.lease_until < now
    return row.state in ("pending", "held") and row.attempts == 0 and unleased


@dataclass(frozen=True)
class Coalesced:
    """A progress event's deliveries: new rows, and waiting rows that now carry it."""

    new: list[tuple[str, RowState]]
    replaced: list[str]


def coalesce(
    wanted: Sequence[tuple[str, RowState]], waiting: Sequence[Waiting], now: float
) -> Coalesced:
    """For each downstream that takes the event: the row it already has waiting takes the
    newer event in place of the older one, when it still can; otherwise a new row."""
    by_downstream = {w.downstream: w for w in waiting if replaceable(w, now)}
    new: list[tuple[str, RowState]] = []
    replaced: list[str] = []
    for name, row_state in wanted:
        found = by_downstream.get(name)
        if found is None:
            new.append((name, row_state))
        else:
            replaced.append(found.id)
    return Coalesced(new, replaced)


def supersedes(state: str) -> bool:
    """Whether an event in `state` ends the progress deliveries still waiting: a terminal
    event is never held behind them, and a figure told after the end would mislead."""
    return state in TERMINAL_STATES
