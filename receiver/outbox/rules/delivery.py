"""A delivery's rules, pure, beneath the lifecycle: its records, who gets one and in what
state, how a newer progress event replaces one not yet sent, what follows an attempt, the
breaker, and each lane's pace and fair share. The caller passes the time and what the store
read, so they are tested without waiting; the outbox's rows write what these decide.
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # the rules load no I/O: the store's types for annotations only
    from receiver.kernel.store.db import Db


# What the store hands out: rows become these at its edge.


@dataclass(frozen=True)
class Delivery:
    id: str
    event_id: str
    task_id: str
    downstream: str
    state: str
    attempts: int
    next_attempt_at: float
    last_status: int | None
    last_error: str | None
    created_at: float
    updated_at: float
    delivered_at: float | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Delivery:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class DeliveryJob:
    """A leased delivery with the event payload it carries."""

    delivery: Delivery
    payload: dict[str, Any]
    # The task's first message at this downstream, when its platform edits in place:
    # (message id, whether it shows a video).
    posted: tuple[str, bool] | None = None
    webhook: str | None = None  # the task's own webhook, for its lane's deliveries
    trace_context: str | None = None  # the task's trace
    webhook_filter: str | None = None  # the CEL filter of the task's own webhook


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt, as the console's timeline and latency chart show it."""

    id: str
    delivery_id: str
    task_id: str
    downstream: str
    number: int
    started_at: float
    finished_at: float
    latency_ms: float
    status: int | None
    error: str | None  # already scrubbed of secrets
    outcome: str  # succeeded | retry | dead
    excerpt: str | None = None  # the start of the answer's body, scrubbed of secrets

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Attempt:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class DeliveryFilter:
    """Which deliveries a list shows, newest first: each filter optional (None: any)."""

    state: str | None = None
    downstream: str | None = None
    task_id: str | None = None
    limit: int = 50
    before: str | None = None  # a delivery's id: only those older (the next page)


# Who gets a delivery of an event, and in what state its row starts.

RowState = Literal["pending", "held", "mirroring"]

# Why the rows of a downstream made through the API wait, when its secret (or URL) was
# sealed under a key this relay no longer has; they go out once it can be opened again.
# A webhook with a CloudEvents envelope waits for its endpoint's handshake; the words start so.
NOT_VALIDATED = "not validated by its endpoint (the CloudEvents webhook handshake)"
SECRET_HELD = "its secret cannot be opened: set previous_secret_envs or rotate the secret"

# The lane of the operator's own tasks' own webhooks (`webhook` on submit): never a
# downstream's name. An app's tasks' go in a lane of the app's own (`task_webhook_of`).
TASK_WEBHOOK = "task-webhook"


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
class MadeDownstream:
    """A downstream made through the API as an event reads it from the store."""

    name: str
    spec: dict[str, Any]  # its settings, the URL and other secrets sealed
    sealed_secret: str
    sealed_previous: str | None
    change_seq: int  # the number of its last change (a rotation's too; not a reseal)


# An app's rows (None: the global ones), or some names'; a row's subscription (None: none).
ReadMade = Callable[["Db", str | None], list[MadeDownstream]]
ReadNamed = Callable[["Db", Sequence[str]], list[MadeDownstream]]
Judge = Callable[[MadeDownstream], Subscription | None]


class Subscribers:
    """Who an event may go to, read in its transaction (another replica's change counts at
    once): the config file's downstreams, the API's global ones and the task's app's (by the
    app's index), each row judged once a version in a bounded cache (the store's threads)."""

    CACHED_ROWS = 4096  # a few apps' busy downstreams, well over what one app has

    def __init__(self, configured: Subscriptions, read: tuple[ReadMade, ReadNamed], judge: Judge):
        self._configured, (self._read, self._read_named), self._judge = configured, read, judge
        self._judged: OrderedDict[str, tuple[tuple[Any, ...], Subscription | None]] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, db: Db, owner: str | None) -> Subscriptions:
        """Those that may take an event of `owner`'s task (None: the admin's), or its notice."""
        return self._with(self._read(db, owner))

    def named(self, db: Db, names: Sequence[str]) -> Subscriptions:
        """Those of `names` that exist."""
        found = self._with(self._read_named(db, names))
        return {n: found[n] for n in names if n in found}

    def _with(self, rows: list[MadeDownstream]) -> dict[str, Subscription]:
        found = dict(self._configured)  # a row of the same name stands in the file's place
        for row in rows:
            if (sub := self._subscription(row)) is not None:
                found[row.name] = sub
        return found

    def _subscription(self, row: MadeDownstream) -> Subscription | None:
        version = (row.change_seq, row.sealed_secret, row.sealed_previous)
        with self._lock:
            if (kept := self._judged.get(row.name)) is not None and kept[0] == version:
                self._judged.move_to_end(row.name)
                return kept[1]
        sub = self._judge(row)
        with self._lock:
            self._judged[row.name] = (version, sub)
            if len(self._judged) > self.CACHED_ROWS:
                self._judged.popitem(last=False)
        return sub


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
        out.append((task_webhook_of(route.owner), waiting))
    return out


def held_reasons(subscriptions: Subscriptions) -> dict[str, str]:
    """Why each downstream that cannot be used has its rows held, kept on each row."""
    return {name: sub.held for name, sub in subscriptions.items() if sub.held}


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


def task_webhook_of(owner: str | None) -> str:
    """Where a task's own webhook's deliveries are kept: an app's tasks' as a downstream of
    the app's (`<app id>.task-webhook`: signed with its keys, in its expression line, lane
    and breaker), the operator's own tasks' in the `TASK_WEBHOOK` lane."""
    return owned_name(owner, TASK_WEBHOOK) if owner else TASK_WEBHOOK


def is_task_webhook(kept: str) -> bool:
    """The deliveries of tasks' own webhooks: the operator's lane or an app's."""
    return kept == TASK_WEBHOOK or (owner_of(kept) is not None and shown_name(kept) == TASK_WEBHOOK)


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


def notified_of(event: str, about: str, subscriptions: Subscriptions) -> list[str]:
    """The downstreams told of a relay event (`downstream.disabled`) about another one."""
    return [
        name
        for name, sub in subscriptions.items()
        if name != about
        and event in sub.events
        and (sub.owner is None or sub.owner == owner_of(about))  # an app hears of its own
    ]


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


# What follows an attempt. Every retry of the relay's waits so: a delivery's, and a send
# CometAPI refused (receiver/lifecycle/rules/retries.py).
Uniform = Callable[[float, float], float]  # a random number between its two bounds


def jittered_wait(
    backoff: float,
    jitter: float,
    retry_after: float | None,
    max_retry_after: float,
    uniform: Uniform,
) -> float:
    """`backoff` shortened by a random share up to `jitter`, never less than the answer's
    Retry-After asks (honoured up to `max_retry_after`)."""
    delay = backoff * uniform(1 - jitter, 1)
    if retry_after is not None:
        delay = max(delay, min(retry_after, max_retry_after))
    return delay


# Timeouts and throttling and server trouble pass; any other 4xx is the request's fault,
# and sending it again will not help.
RETRYABLE_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True)
class RetryPolicy:
    schedule: tuple[float, ...]  # seconds before each retry; the first attempt is at once
    jitter: float  # each wait is shortened by a random share up to this
    max_retry_after: float  # a downstream's Retry-After is honoured up to this


@dataclass(frozen=True)
class Decision:
    outcome: Literal["succeeded", "retry", "dead", "filtered"]
    next_attempt_at: float  # when to try again (retry), else when decided
    error: str | None  # why it failed, kept in last_error

    @property
    def state(self) -> str:
        """The outbox row's state after this attempt."""
        return row_state(self.outcome)


def row_state(outcome: str) -> str:
    """The outbox row's state after an attempt with this outcome: a retry stays pending."""
    return "pending" if outcome == "retry" else outcome


def retryable(status: int | None) -> bool:
    """None is a failure with no answer (refused, reset, timed out): always worth a retry."""
    return status is None or status in RETRYABLE_STATUSES or status >= 500


@dataclass(frozen=True)
class Verdict:
    """What a CloudEvents webhook's endpoint answered the handshake (receiver/destinations/
    handshake.py): allowed (`per_minute`: None, no limit), or not, and why."""

    allowed: bool
    reason: str = ""
    per_minute: float | None = None

    @property
    def per_second(self) -> float | None:
        return None if self.per_minute is None else self.per_minute / 60


def asked_of(url: str, origin: str) -> str:
    """What a handshake's verdict was asked of (a digest of the endpoint and the relay's
    origin): a verdict kept for another is no verdict."""
    return hashlib.sha256(f"{origin}\n{url}".encode()).hexdigest()[:32]


def ask_again_in(schedule: Sequence[float], refusals: int) -> float:
    """Seconds until a downstream paused by its endpoint's refusal of the CloudEvents
    handshake is asked again, after `refusals` refusals in a row before this one: the
    schedule's (`delivery.handshake_ask_again_schedule`), its last wait repeated."""
    return schedule[min(refusals, len(schedule) - 1)]


@dataclass(frozen=True)
class Answer:
    """What one attempt got back: `status` (None: no answer) or the `failure`, with the
    downstream's Retry-After in seconds."""

    status: int | None = None
    failure: str | None = None
    retry_after: float | None = None
    abort: bool = False  # the receiver answered `webhook-delivery: abort-message`
    confirmed: bool = False  # a broker confirmed the message (brokers answer no HTTP status)


def decide(
    policy: RetryPolicy,
    attempt: int,
    answer: Answer,
    now: float,
    uniform: Uniform = random.uniform,
) -> Decision:
    """What follows attempt number `attempt` (1 for the first), which got `answer`."""
    status, failure, retry_after = answer.status, answer.failure, answer.retry_after
    if answer.confirmed or (status is not None and 200 <= status < 300):
        return Decision("succeeded", now, None)
    if answer.abort:
        return Decision("dead", now, f"the receiver asked to stop retrying; {failure}")
    if not retryable(status):
        return Decision("dead", now, failure)
    if attempt > len(policy.schedule):
        return Decision("dead", now, f"gave up after {attempt} attempts; last: {failure}")
    backoff = policy.schedule[attempt - 1]
    delay = jittered_wait(backoff, policy.jitter, retry_after, policy.max_retry_after, uniform)
    return Decision("retry", now + delay, failure)


# A downstream's breaker (Convoy's rule): it opens when, over the last `window` seconds, at
# least `min_attempts` attempts were made and at least `failure_rate` of them failed; the
# downstream is then left alone (`open`) for `cool_off` seconds; then one probe is let
# through (`half_open`); its success closes the breaker, its failure opens it again.
# Counting a rate over a window, not failures in a row, keeps a flaky downstream (one
# attempt in two fails) served: runs of failures come by chance, and each run would have
# paused it. A failure is weighed with the attempts still in flight that began before it
# (each may yet succeed): a fast 503 ends before a slow 200, and a burst's first outcomes to
# end would otherwise be mostly its failures.
BreakerState = Literal["closed", "half_open", "open"]
# For the `relay_downstream_state` gauge; `disabled` is an operator's or the relay's decision.
STATE_NUMBERS = {"closed": 0, "half_open": 1, "open": 2, "disabled": 3}


@dataclass
class Breaker:
    failure_rate: float  # the share of failed attempts in the window that opens it
    min_attempts: int  # no verdict on fewer attempts than this in the window
    window: float  # seconds of attempts that count
    cool_off: float  # seconds it stays open before a probe
    outcomes: deque[tuple[float, bool]] = field(default_factory=deque)  # (when, failed)
    failed_in_window: int = 0
    opened_at: float | None = None
    probing: bool = False  # the half-open probe is in flight

    def state(self, now: float) -> BreakerState:
        if self.opened_at is None:
            return "closed"
        return "half_open" if now - self.opened_at >= self.cool_off else "open"

    def allowance(self, now: float) -> int | None:
        """How many attempts may start now: None for no limit, 0 or 1 otherwise."""
        state = self.state(now)
        if state == "closed":
            return None
        if state == "half_open" and not self.probing:
            return 1
        return 0

    def started(self, now: float) -> None:
        if self.state(now) == "half_open":
            self.probing = True

    def succeeded(self, now: float) -> None:
        if self.opened_at is not None:
            self._reset(None)  # the probe (or a straggler) got through: closed again
            return
        self._note(now, failed=False)

    def untried(self) -> None:
        """An attempt that never reached the downstream (the relay's own overload): it says
        nothing of its health, and a probe it was goes again."""
        self.probing = False

    def failed(self, now: float, older_in_flight: int = 0) -> None:
        """An attempt failed; `older_in_flight` of its downstream's attempts, begun before
        it, have not ended yet."""
        if self.probing:
            self._reset(now)  # the probe failed: open again, for a whole cool-off
            return
        if self.opened_at is not None:
            return  # an attempt that started before it opened
        self._note(now, failed=True)
        ended = len(self.outcomes)
        weighed = ended + older_in_flight
        if ended >= self.min_attempts and self.failed_in_window >= self.failure_rate * weighed:
            self._reset(now)

    def _note(self, now: float, failed: bool) -> None:
        self.outcomes.append((now, failed))
        self.failed_in_window += failed
        while self.outcomes and self.outcomes[0][0] <= now - self.window:
            self.failed_in_window -= self.outcomes.popleft()[1]

    def _reset(self, opened_at: float | None) -> None:
        self.outcomes.clear()
        self.failed_in_window = 0
        self.opened_at, self.probing = opened_at, False
