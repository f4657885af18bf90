"""Plain records of the lifecycle the store hands out, and the one rule of which workers a
recorded observation wakes (`Wakeups`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from receiver.lifecycle.rules.task import PENDING, TERMINAL_STATES, Claim, Verdict
from receiver.outbox.rules.delivery import DeliveryJob, TaskRoute


def webhook_origin(url: str | None) -> str | None:
    """A task's webhook as shown: its scheme and host, never a path or query that may hold
    the receiver's own token."""
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


@dataclass(frozen=True)
class NewTask:
    kind: str
    request: dict[str, Any]
    idempotency_key: str | None = None
    # What the key's request must match: a digest of the body as validated.
    request_hash: str | None = None
    # The caller's webhook, its states, metadata and channels (never sent to CometAPI).
    routing: dict[str, Any] | None = None
    trace_context: str | None = None  # receiver/kernel/observability/tracing.py keeps it
    owner_key: str | None = None  # the app whose key made it (None: the admin token)
    # The data URIs `request` refers to, by digest: kept apart, once (task_inputs).
    inputs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    id: str
    kind: str
    state: str
    upstream_task_id: str | None
    upstream_status: str | None
    request: dict[str, Any]
    outputs: list[str]
    thumbnail: str | None
    error: str | None
    created_at: float
    updated_at: float
    terminal_at: float | None
    next_poll_at: float | None
    poll_attempts: int
    point: float | None = None
    refund: float | None = None
    claim_since: float | None = None  # a callback's claim is waiting for CometAPI's word
    progress: float | None = None  # 0 to 1, as upstream last said
    started_at: float | None = None  # when the relay first saw it running
    expected_end_at: float | None = None  # the end its polls aim at
    # Its latest progress event's figure and time (None: none yet).
    progress_sent: float | None = None
    progress_sent_at: float | None = None
    # The submit queue: when the next send is due (None: not waiting), sends so far, one
    # in flight now, new upstream tasks after retryable failures, the place in the queue.
    next_submit_at: float | None = None
    submit_attempts: int = 0
    sending: bool = False
    resubmits: int = 0
    queue_position: int | None = None
    routing: dict[str, Any] = field(default_factory=dict)  # webhook, metadata, channels
    trace_context: str | None = None  # the task's trace, when traces are exported
    owner_key: str | None = None  # the app whose key made it (None: the admin token)
    app: str | None = None  # that app's name, as a read names it (None: the operator's own)

    @property
    def ended(self) -> bool:
        """Succeeded, failed or cancelled: nothing CometAPI says of it changes it now."""
        return self.state in TERMINAL_STATES

    @property
    def metadata(self) -> dict[str, Any] | None:
        """The caller's own data, echoed in every event of the task."""
        found = self.routing.get("metadata")
        return found if isinstance(found, dict) else None

    @property
    def route(self) -> TaskRoute:
        """Its channels and its own webhook's states, for the routing rules."""
        # A webhook that answered 410 Gone takes nothing more.
        live = self.routing.get("webhook") and not self.routing.get("webhook_gone_at")
        events = self.routing.get("webhook_events") if live else None
        return TaskRoute(
            frozenset(self.routing.get("channels") or ()),
            frozenset(events) if events is not None else None,
            self.owner_key,
        )

    @property
    def channels(self) -> list[str]:
        """The channels it was submitted with."""
        return list(self.routing.get("channels") or ())

    @property
    def webhook(self) -> str | None:
        """Its own webhook as shown: the scheme and host, never the URL itself."""
        return webhook_origin(self.routing.get("webhook"))

    @property
    def submission(self) -> str:
        """Where the task is on its way to CometAPI."""
        if self.next_submit_at is not None:
            return "waiting"
        if self.sending:
            return "sending"
        return "sent" if self.upstream_task_id is not None else "not_sent"

    @property
    def prompt(self) -> str | None:
        """The prompt as submitted, whichever route's field holds it."""
        text = self.request.get("prompt") or self.request.get("promptText")
        return text if isinstance(text, str) else None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Task:
        return cls(
            id=row["id"],
            kind=row["kind"],
            state=row["state"],
            upstream_task_id=row["upstream_task_id"],
            upstream_status=row["upstream_status"],
            request=orjson.loads(row["request"]),
            outputs=orjson.loads(row["outputs"]),
            thumbnail=row["thumbnail"],
            error=row["error"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            terminal_at=row["terminal_at"],
            next_poll_at=row["next_poll_at"],
            poll_attempts=row["poll_attempts"],
            point=row["point"],
            refund=row["refund"],
            claim_since=row["claim_since"],
            progress=row["progress"],
            started_at=row.get("started_at"),
            expected_end_at=row.get("expected_end_at"),
            progress_sent=row.get("progress_sent"),
            progress_sent_at=row.get("progress_sent_at"),
            next_submit_at=row["submit_due_at"],
            submit_attempts=row["submit_count"],
            sending=row["submit_owner"] is not None and row["upstream_task_id"] is None,
            resubmits=row["resubmits"],
            routing=orjson.loads(row["routing"]) if row.get("routing") else {},
            trace_context=row.get("trace_context"),
            owner_key=row.get("owner_key"),
        )


@dataclass(frozen=True)
class Event:
    id: str
    task_id: str
    source: str
    state: str | None
    upstream_status: str | None
    applied: bool
    received_at: float
    verdict: str | None  # callbacks only: pending, confirmed, contradicted, unconfirmed
    verdict_at: float | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Event:
        fields = {name: row[name] for name in cls.__dataclass_fields__}
        return cls(**{**fields, "applied": bool(row["applied"])})


@dataclass(frozen=True)
class PollJob:
    task_id: str
    kind: str
    upstream_task_id: str
    created_at: float
    poll_attempts: int
    trace_context: str | None = None  # the task's trace


@dataclass(frozen=True)
class Settled:
    """A callback's claim that a poll settled, with the answer it was judged against."""

    claim: Claim
    verdict: Verdict


@dataclass(frozen=True)
class PollResult:
    """What storing one poll's answer did."""

    recorded: Recorded | None  # None: there was no answer to record
    settled: list[Settled]
    resubmitted: bool = False  # the task failed upstream and went back to the submit queue
    handed: list[DeliveryJob] = field(default_factory=list)  # leased to be sent at once


@dataclass(frozen=True)
class Recorded:
    """What recording one observation did."""

    outcome: str  # applied | history | duplicate | unknown_task | task_mismatch
    task: Task | None = None
    event_id: str | None = None
    delivery_ids: list[str] = field(default_factory=list)
    verdict: str | None = None  # callbacks: pending, or judged at once against a final task
    poll: PollJob | None = None  # callbacks: the poll it leased to this process, to run now
    handed: list[DeliveryJob] = field(default_factory=list)  # leased as they were made


class Work(enum.Flag):
    """The workers a committed change can have something new for."""

    NONE = 0
    DELIVERIES = enum.auto()  # outbox rows to send
    POLLS = enum.auto()  # a task to ask CometAPI about now
    MIRRORS = enum.auto()  # a finished render to copy
    SUBMITS = enum.auto()  # a task to send to CometAPI, or room for one under the cap


@dataclass(frozen=True)
class Wakeups:
    """What a recorded observation can give work to: `mirroring`, renders are copied;
    `capped`, a task that ends may make room for a waiting one."""

    mirroring: bool
    capped: bool = True

    def work_after(self, recorded: Recorded, handed: frozenset[str] = frozenset()) -> Work:
        """Which workers a recorded observation gives something to do."""
        work = Work.NONE
        if set(recorded.delivery_ids) - handed:
            work |= Work.DELIVERIES
        pending = recorded.verdict == PENDING and recorded.poll is None
        if pending or recorded.outcome == "over_limit":
            work |= Work.POLLS  # a poll the callback leased is handed to the poller instead
        task = recorded.task
        applied = recorded.outcome == "applied"
        if self.mirroring and applied and task and task.state == "succeeded":
            work |= Work.MIRRORS
        if self.capped and applied and task and task.state in TERMINAL_STATES:
            work |= Work.SUBMITS  # it ran upstream, and no longer counts against the cap
        return work


@dataclass(frozen=True)
class TaskFilter:
    """Which tasks a list shows: newest first, a page of `limit` after the cursor `before`."""

    state: str | None = None
    kind: str | None = None
    since: float | None = None  # created at or after
    text: str | None = None  # in the submitted request (the prompt), any case
    before: str | None = None  # the id of the last task of the previous page
    limit: int = 50
    floor: str | None = None  # the lowest id looked at (a search's window), inclusive
    owner_key: str | None = None  # only the tasks this key made (None: every task)


@dataclass(frozen=True)
class SubmitJob:
    """A task being sent to CometAPI by this process."""

    task_id: str
    kind: str
    request: dict[str, Any]
    attempt: int  # 1 for its first send
    queued_since: float  # when it joined the queue: its give-up clock
    resubmits: int
    started_at: float
    trace_context: str | None = None  # the task's trace
    app: str = ""  # the app whose task it is ('': the admin token's)


@dataclass(frozen=True)
class SubmitAttempt:
    """One send to CometAPI and what came of it."""

    id: str
    task_id: str
    number: int
    started_at: float
    finished_at: float
    status: int | None  # CometAPI's HTTP status; None: no answer
    error: str | None  # CometAPI's words (scrubbed); None when it took the task
    outcome: str  # accepted | retry | failed
    retry_at: float | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SubmitAttempt:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})
