"""What the console's pages show, worked out from store records with no I/O: a task's
timeline, its video, the submit form's fields and errors, times as people read them."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from receiver.errors import MalformedRequest
from receiver.persist import Attempt, Event, SubmitAttempt, Task

KINDS = ("video2video", "video_to_video", "image_to_video")
# The form's fields, and what each kind of task calls them (README, "Submitting").
FORM_FIELDS = {
    "video2video": {"prompt": "prompt", "source": "video", "model": "model"},
    "video_to_video": {"prompt": "promptText", "source": "videoUri", "model": "model"},
    "image_to_video": {"prompt": "promptText", "source": "promptImage", "model": "model"},
}
_SOURCE_LABEL = {
    "submit": "Submitted",
    "callback": "Callback",
    "poll": "Poll",
    "cancel": "Cancelled by an operator",
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


def _attempt_entry(attempt: Attempt) -> Entry:
    if attempt.outcome == "succeeded":
        tone, said = "ok", "delivered"
    elif attempt.outcome == "dead":
        tone, said = "bad", "failed for good (dead letter)"
    else:
        tone, said = "warn", "failed, will retry"
    detail = said if not attempt.error else f"{said}: {attempt.error}"
    return Entry(
        attempt.finished_at,
        "attempt",
        f"Delivery to {attempt.downstream}, attempt {attempt.number}",
        detail,
        tone,
        status=attempt.status,
        latency_ms=attempt.latency_ms,
        downstream=attempt.downstream,
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
) -> list[Entry]:
    """Everything that happened to a task, oldest first: its creation, each send to
    CometAPI, each event (submit, callbacks with their verdict, polls, cancel) and each
    delivery attempt."""
    entries = [
        Entry(task.created_at, "created", "Recorded", f"{task.kind} task created", "info"),
        *map(_send_entry, sends or []),
        *map(_event_entry, events),
        *map(_attempt_entry, attempts),
    ]
    order = {
        "created": 0,
        "send": 1,
        "submit": 2,
        "callback": 3,
        "poll": 4,
        "cancel": 5,
        "attempt": 6,
    }
    return sorted(entries, key=lambda e: (e.at, order.get(e.kind, 9)))


def submission(task: Task) -> str:
    """Where the task is on its way to CometAPI, as the task page says it."""
    if task.submission == "waiting":
        place = f"#{task.queue_position} in line" if task.queue_position else "in line"
        return f"waiting to be sent, {place}; next try {when(task.next_submit_at)}"
    if task.submission == "sending":
        return "being sent to CometAPI"
    if task.submission == "sent":
        return "sent: CometAPI has it"
    return "never sent"


@dataclass(frozen=True)
class Media:
    video: str | None
    poster: str | None
    mirrored: bool
    note: str | None  # why the original links are shown, when they are


def media_of(task: Task, documents: list[dict[str, Any]]) -> Media:
    """The video to play: the mirrored copy from the newest succeeded event's document,
    else the task's original outputs (which expire within a day or two)."""
    note = None
    for document in reversed(documents):
        media = document.get("media")
        if document.get("state") != "succeeded" or not isinstance(media, dict):
            continue
        files = [f for f in media.get("files") or [] if isinstance(f, dict)]
        video = next((f.get("url") for f in files if f.get("role") == "video"), None)
        poster = next((f.get("url") for f in files if f.get("role") == "poster"), None)
        if media.get("status") == "mirrored" and isinstance(video, str):
            return Media(video, poster if isinstance(poster, str) else task.thumbnail, True, None)
        note = f"not mirrored: {media.get('reason') or media.get('status') or 'unknown'}"
        break
    if task.state == "succeeded" and task.outputs and note is None:
        note = "the copy is not made yet, or mirroring is off"
    return Media(task.outputs[0] if task.outputs else None, task.thumbnail, False, note)


def form_payload(kind: str, prompt: str, source: str, model: str) -> dict[str, Any]:
    """The submit form as the body POST /v1/tasks takes for that kind."""
    if kind not in FORM_FIELDS:
        return {"kind": kind}
    names = FORM_FIELDS[kind]
    payload: dict[str, Any] = {"kind": kind, names["source"]: source, names["prompt"]: prompt}
    if kind == "image_to_video" and not prompt:
        del payload[names["prompt"]]  # optional for that route
    if model:
        payload[names["model"]] = model
    return payload


def field_errors(kind: str, detail: str) -> tuple[dict[str, str], list[str]]:
    """An InvalidRequest's message ("field: why; field: why") split onto the form's fields;
    what names no field of the form stays general."""
    by_name = {api: form for form, api in FORM_FIELDS.get(kind, {}).items()}
    by_name["kind"] = "kind"
    pattern = r"(?:^|; )(" + "|".join(map(re.escape, sorted(by_name, key=len, reverse=True)))
    parts = re.split(pattern + r")(?:\.[\w.]+)?: ", detail)
    fields: dict[str, str] = {}
    general = [parts[0]] if parts[0] else []
    for name, message in zip(parts[1::2], parts[2::2], strict=True):
        form = by_name[name]
        fields[form] = f"{fields[form]}; {message}" if form in fields else message
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
        raise MalformedRequest(f"{name}: give a date and time, e.g. 2025-01-31T14:00") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def when(epoch: float | None) -> str:
    if epoch is None:
        return "\u2013"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch)) + " UTC"


def when_input(epoch: float | None) -> str:
    """For a datetime-local field's value."""
    return "" if epoch is None else time.strftime("%Y-%m-%dT%H:%M", time.gmtime(epoch))


def ago(epoch: float | None, now: float | None = None) -> str:
    if epoch is None:
        return "\u2013"
    seconds = max(0.0, (time.time() if now is None else now) - epoch)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def offset(epoch: float, start: float) -> str:
    """`+1.23 s` from the task's creation: how the timeline reads at a glance."""
    seconds = epoch - start
    return f"+{seconds:.2f} s" if seconds < 120 else f"+{seconds / 60:.1f} min"


def listed(text: str) -> list[str]:
    """A form's comma-separated list: its items, trimmed, the empty ones left out."""
    return [item.strip() for item in text.split(",") if item.strip()]
