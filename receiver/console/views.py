"""What the console's pages show, worked out from store records with no I/O: a task's
timeline, its video, the submit form's fields and errors, times as people read them."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from receiver.config.downstream import OPTIONS
from receiver.downstreams.rows import DownstreamHealth
from receiver.kernel.errors import InvalidRequest, MalformedRequest
from receiver.kernel.http.body import refuse_nul
from receiver.lifecycle.rules.records import Event, SubmitAttempt, Task
from receiver.lifecycle.rules.task import KIND_NAMES, STATES, Output, TaskKind, kind_of, output_of
from receiver.lifecycle.rules.task import KINDS as TABLE
from receiver.outbox.rules.delivery import Attempt

KINDS = KIND_NAMES
# What a downstream may be sent, as its `events` lists them: each state a task can reach,
# a running task's progress, and the relay's notice that it gave up on the downstream.
EVENT_CHOICES = (*STATES, "progress", "downstream.disabled")
# A downstream's options its forms offer: every format's; a destination's own is the command
# line's alone.
ENDPOINT_OPTIONS = tuple(option for option in OPTIONS if option.forms)
# The submit form's kinds, by what they make, for the groups of its select.
KIND_GROUPS: tuple[tuple[Output, tuple[TaskKind, ...]], ...] = tuple(
    (made, tuple(k for k in TABLE.values() if k.output == made))
    for made in ("video", "image", "audio")
)
_SOURCE_LABEL = {
    "submit": "Submitted",
    "callback": "Callback",
    "poll": "Poll",
    "cancel": "Cancelled by an operator",
}
# A delivery attempt's outcome: its line's colour and words; any other, a retry.
_OUTCOMES = {
    "succeeded": ("ok", "delivered"),
    "dead": ("bad", "failed for good (dead letter)"),
    "filtered": ("info", "not sent: its filter did not take the event"),
}
_VERDICT = {
    "pending": "waiting for CometAPI to confirm",
    "confirmed": "confirmed by CometAPI",
    "contradicted": "contradicted by CometAPI: changed nothing",
    "unconfirmed": "CometAPI could not be asked in time",
}


@dataclass(frozen=True)
class Entry:
    """One line of a task's timeline."""

    at: float
    kind: str  # created | submit | callback | poll | cancel | attempt
    title: str
    detail: str
    tone: str  # ok | bad | warn | info: how the line is coloured
    status: int | None = None
    latency_ms: float | None = None
    downstream: str | None = None
    event_id: str | None = None
    named: str = ""  # a name in the title (a downstream's, in words), never to be broken

    @property
    def title_parts(self) -> tuple[str, str, str]:
        """The title around its name: the page keeps the name whole on one line."""
        if not self.named:
            return self.title, "", ""
        return self.title.partition(self.named)


def _event_entry(event: Event) -> Entry:
    title = _SOURCE_LABEL.get(event.source, event.source.capitalize())
    said = event.upstream_status or event.state or "no status"
    if event.source == "callback":
        verdict = _VERDICT.get(event.verdict or "", event.verdict or "")
        detail = f"claims {event.state or 'a change'} ({said}); {verdict}"
        tone = {"confirmed": "ok", "contradicted": "bad", "unconfirmed": "warn"}.get(
            event.verdict or "", "info"
        )
    else:
        if event.source == "submit" and event.state == "queued":
            detail = "accepted by CometAPI"
        elif event.upstream_status and event.state:
            detail = f"{event.upstream_status} → {event.state}"
        else:
            detail = f"→ {event.state}" if event.state else said
        if not event.applied:
            detail += " (history only: changed nothing)"
        tone = {"succeeded": "ok", "failed": "bad", "cancelled": "warn"}.get(
            event.state or "", "info"
        )
    return Entry(event.received_at, event.source, title, detail, tone, event_id=event.id)


def _attempt_entry(attempt: Attempt, name: Callable[[str], str]) -> Entry:
    tone, said = _OUTCOMES.get(attempt.outcome, ("warn", "failed, will retry"))
    detail = said if not attempt.error else f"{said}: {attempt.error}"
    named = name(attempt.downstream)
    return Entry(
        attempt.finished_at,
        "attempt",
        f"Delivery to {named}, attempt {attempt.number}",
        detail,
        tone,
        status=attempt.status,
        latency_ms=attempt.latency_ms,
        downstream=attempt.downstream,
        named=named,
    )


def _send_entry(send: SubmitAttempt) -> Entry:
    if send.outcome == "accepted":
        tone, said = "ok", "CometAPI took it"
    elif send.outcome == "retry":
        tone, said = "warn", f"CometAPI had no room; next try {when(send.retry_at)}"
    else:
        tone, said = "bad", "refused for good"
    detail = said if not send.error else f"{said}: {send.error}"
    return Entry(
        send.finished_at,
        "send",
        f"Sent to CometAPI, attempt {send.number}",
        detail,
        tone,
        status=send.status,
        latency_ms=(send.finished_at - send.started_at) * 1000,
    )


def timeline(
    task: Task,
    events: list[Event],
    attempts: list[Attempt],
    sends: list[SubmitAttempt] | None = None,
    name: Callable[[str], str] = str,
) -> list[Entry]:
    """Everything that happened to a task, oldest first: its creation, each send to
    CometAPI, each event (submit, callbacks with their verdict, polls, cancel) and each
    delivery attempt (its downstream called by `name`)."""
    entries = [
        Entry(task.created_at, "created", "Recorded", f"{task.kind} task created", "info"),
        *map(_send_entry, sends or []),
        *map(_event_entry, events),
        *(_attempt_entry(attempt, name) for attempt in attempts),
    ]
    kinds = ("created", "send", "submit", "callback", "poll", "cancel", "attempt")
    order = {kind: n for n, kind in enumerate(kinds)}
    return sorted(entries, key=lambda e: (e.at, order.get(e.kind, 9)))


def submission(task: Task) -> str:
    """Where the task is on its way to CometAPI, as the task page says it."""
    if task.submission == "waiting":
        place = f"#{task.queue_position} in line" if task.queue_position else "in line"
        return f"waiting to be sent, {place}; next try {when(task.next_submit_at)}"
    said = {"sending": "being sent to CometAPI", "sent": "sent: CometAPI has it"}
    return said.get(task.submission, "never sent")


@dataclass(frozen=True)
class Media:
    video: str | None  # the first output, whatever its type
    poster: str | None
    mirrored: bool
    note: str | None  # why the original links are shown, when they are
    made: str = "video"  # the output's type: the page plays, shows or plays it as audio


def media_of(task: Task, documents: list[dict[str, Any]]) -> Media:
    """The video to play: the mirrored copy from the newest succeeded event's document,
    else the task's original outputs (which expire within a day or two)."""
    note = None
    made = output_of(task.kind, task.outputs)
    for document in reversed(documents):
        media = document.get("media")
        if document.get("state") != "succeeded" or not isinstance(media, dict):
            continue
        files = [f for f in media.get("files") or [] if isinstance(f, dict)]
        video = next((f.get("url") for f in files if f.get("role") == made), None)
        poster = next((f.get("url") for f in files if f.get("role") == "poster"), None)
        if media.get("status") == "mirrored" and isinstance(video, str):
            poster = poster if isinstance(poster, str) else task.thumbnail
            return Media(video, poster, True, None, made)
        note = f"not mirrored: {media.get('reason') or media.get('status') or 'unknown'}"
        break
    if task.state == "succeeded" and task.outputs and note is None:
        note = "the copy is not made yet, or mirroring is off"
    return Media(task.outputs[0] if task.outputs else None, task.thumbnail, False, note, made)


def form_payload(kind: str, prompt: str, source: str, model: str, options: str) -> dict[str, Any]:
    """The submit form as the body POST /v1/tasks takes: `options` (a JSON object of the
    kind's other fields), the prompt and the source in the kind's fields for them, the
    model. InvalidRequest when one of these does not fit the kind; the relay checks the rest."""
    found = kind_of(kind)
    if found is None:
        return {"kind": kind}  # the relay names the kinds it takes
    payload: dict[str, Any] = {"kind": kind}
    problems = []
    if options:
        try:
            given = json.loads(options)
        except ValueError as exc:
            given, reason = None, f"options: not JSON ({exc})"
        else:
            reason = "options: give a JSON object of the kind's fields"
        if isinstance(given, dict):
            refuse_nul(given, "options", inside=True)
            payload.update({k: v for k, v in given.items() if k != "kind"})
        else:
            problems.append(reason)
    for what, value, name in (("prompt", prompt, found.prompt), ("source", source, found.source)):
        if value and name is None:
            problems.append(f"{what}: {kind} has no {what} field of its own; give it in Options")
        elif value and name is not None:
            payload[name] = value
    if model:
        payload["model"] = model
    if problems:
        raise InvalidRequest("; ".join(problems))
    return payload


def field_errors(kind: str, detail: str) -> tuple[dict[str, str], list[str]]:
    """An InvalidRequest's message ("field: why; field: why") split onto the form's fields
    (a field of the body that has none of its own is the Options field's); what names no
    field stays general."""
    found = kind_of(kind)
    by_name = {"kind": "kind", "model": "model", "options": "options"}
    by_name |= {"prompt": "prompt", "source": "source"}  # the form's own refusals
    if found is not None:
        by_name |= {
            name: form
            for form, name in (("prompt", found.prompt), ("source", found.source))
            if name
        }
    pattern = r"(?:^|; )([A-Za-z_][\w]*)(?:\.[\w.]+)?: "
    parts = re.split(pattern, detail)
    fields: dict[str, str] = {}
    general = [parts[0]] if parts[0] else []
    for name, message in zip(parts[1::2], parts[2::2], strict=True):
        form = by_name.get(name, "options")
        said = message if form != "options" or name == "options" else f"{name}: {message}"
        fields[form] = f"{fields[form]}; {said}" if form in fields else said
    return fields, general


def parse_when(raw: str | None, name: str) -> float | None:
    """A form's date and time (UTC, as the console shows every time) or epoch seconds."""
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedRequest(
            f"{name}: give a date and a time on the 24-hour clock, in UTC, e.g. 2025-01-31 14:00"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def event_type(document: Any, event: Event) -> str:
    """The type a downstream got the event as (`task.succeeded`), as the catalog names it."""
    given = document.get("type") if isinstance(document, dict) else None
    return str(given) if given else f"task.{event.state or event.source}"


def when(epoch: float | None) -> str:
    if epoch is None:
        return "\u2013"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch)) + " UTC"


def when_input(epoch: float | None) -> str:
    """A since field's value: a date and a 24-hour time in UTC, as the field asks for."""
    return "" if epoch is None else time.strftime("%Y-%m-%d %H:%M", time.gmtime(epoch))


# Joins the words of "4 s ago": a phrase a line never breaks inside.
_NBSP = "\u00a0"


def ago(epoch: float | None, now: float | None = None) -> str:
    if epoch is None:
        return "\u2013"
    seconds = max(0.0, (time.time() if now is None else now) - epoch)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return _NBSP.join((f"{seconds // size:.0f}", unit, "ago"))
    return _NBSP.join((f"{seconds:.0f}", "s", "ago"))


def offset(epoch: float, start: float) -> str:
    """`+1.23 s` from the task's creation: how the timeline reads at a glance."""
    seconds = epoch - start
    return f"+{seconds:.2f} s" if seconds < 120 else f"+{seconds / 60:.1f} min"


def listed(text: str) -> list[str]:
    """A form's comma-separated list: its items, trimmed, the empty ones left out."""
    return [item.strip() for item in text.split(",") if item.strip()]


def nothing_failed(health: DownstreamHealth) -> str:
    """What a downstream's card says when it lists no dead letter and no retry: never "no
    failures" while it fails, while it is paused with deliveries held, or while its breaker
    holds what is pending (those may not have been tried yet, so the list of retries is
    empty)."""
    if held := health.deliveries.get("held", 0):
        why = f" ({health.disabled_reason})" if health.disabled_reason else ""
        return f"Nothing dead; {held} held while it is paused{why}, sent once it is enabled."
    pending = health.deliveries.get("pending", 0)
    held = health.breaker not in ("closed", "")
    if pending and (held or health.failing_since):
        why = f"its breaker is {health.breaker.replace('_', '-')}" if held else "it is failing"
        return f"Nothing dead; {pending} pending wait while {why}, none tried again yet."
    if health.failing_since:
        return "Nothing dead and nothing retrying, but its last attempts failed."
    return "No failures: nothing dead, nothing retrying."
