"""The event catalog: every type of event a downstream may receive, and an example; its
JSON Schema is made from models, never written by hand (receiver/catalog/events.py, with
the API: a start builds none of them).

What is described is the `webhook` format's event, as a webhook receives it and a broker
message carries it: `{type, timestamp, data}`, `data` being the event document
(receiver/lifecycle/rules/routing.py). Chat formats render the same document into a message.
"""

from __future__ import annotations

from typing import Any

# The event a downstream (its `events`) or a task's webhook (`webhook_events`) subscribes to.
PROGRESS = "progress"
# The webhook format's `type` of a progress event, and the source of its event row.
PROGRESS_TYPE = "task.progress"

TASK_TYPES = (
    "task.queued",
    "task.running",
    "task.progress",
    "task.succeeded",
    "task.failed",
    "task.cancelled",
)
DISABLED_TYPE = "downstream.disabled"
# What `POST /v1/downstreams/preview` sends through a filter and a transform when asked for
# no task: a made-up task that succeeded, marked as a test.
TEST_TYPE = "relay.test"
# The operator alerts (receiver/alerts), about one app's downstreams each.
FAILING = "endpoint.failing"
RECOVERED = "endpoint.recovered"
DISABLED = "endpoint.disabled"
ALERT_TYPES = (FAILING, RECOVERED, DISABLED)
EVENT_TYPES = (*TASK_TYPES, DISABLED_TYPE, *ALERT_TYPES, TEST_TYPE)


DESCRIPTIONS = {
    "task.queued": "The relay took the task; it is sent to CometAPI next.",
    "task.running": "CometAPI started the task.",
    "task.progress": "The running task moved on (throttled; `progress` from 0 to 1).",
    "task.succeeded": "The task ended with its renders in `outputs`.",
    "task.failed": "The task ended without renders; `failure_message` is safe to show.",
    "task.cancelled": "The task was cancelled.",
    DISABLED_TYPE: "The relay stopped delivering to a downstream, and why.",
    FAILING: "Operator alert: an app's downstreams whose breaker opened or a delivery went dead.",
    RECOVERED: "Operator alert: an app's downstreams told of as failing or disabled deliver again.",
    DISABLED: "Operator alert: an app's downstreams disabled (failing too long, 410, an operator).",
    TEST_TYPE: "A made-up succeeded task, to try a filter or transform on (the preview).",
}


def example_document(event_type: str) -> dict[str, Any]:
    """An event document of this type, as the relay would store it."""
    now = 1767225600.0
    if event_type == DISABLED_TYPE:
        return {
            "event_id": "evt_example",
            "type": DISABLED_TYPE,
            "task_id": "tsk_relay",
            "kind": "relay",
            "state": DISABLED_TYPE,
            "downstream": "crm",
            "reason": "every attempt failed for 120.0 h",
            "failing_since": now - 432000,
            "occurred_at": now,
        }
    if event_type in ALERT_TYPES:
        alert: dict[str, Any] = {
            "event_id": "evt_example",
            "type": event_type,
            "task_id": "tsk_relay",
            "kind": "relay",
            "state": event_type,
            "downstream": "crm",
            "app": None,
            "reason": {
                FAILING: "a delivery went dead: HTTP 503: upstream unavailable",
                RECOVERED: "a delivery went through again",
                DISABLED: "every attempt failed for 120.0 h",
            }[event_type],
            "failing_since": None if event_type == RECOVERED else now - 900,
            "occurred_at": now,
        }
        # A digest of one: the downstream's own fields, and the list (of one) beside them.
        named = {k: alert[k] for k in ("downstream", "reason", "failing_since")}
        return alert | {"downstreams": [named], "more": 0}
    state = "succeeded" if event_type == TEST_TYPE else event_type.split(".", 1)[1]
    state = "running" if state == "progress" else state
    ended = state == "succeeded"
    document: dict[str, Any] = {
        "event_id": "evt_example",
        "task_id": "tsk_example",
        "upstream_task_id": "c0ffee00-0000-4000-8000-000000000000",
        "kind": "image_to_video",
        "state": state,
        "upstream_status": {"queued": "PENDING", "running": "RUNNING"}.get(state, state.upper()),
        "outputs": ["https://cdn.example.com/render.mp4"] if ended else [],
        "output_type": "video",
        "thumbnail": "https://cdn.example.com/render.jpg" if ended else None,
        "error": "content moderation" if state == "failed" else None,
        "point": 2.5 if ended else None,
        "refund": None,
        "upstream_created_at": now - 60,
        "upstream_updated_at": now,
        "source": "poll",
        "occurred_at": now,
        "failure_code": "SAFETY.INPUT.TEXT" if state == "failed" else None,
        "failure_message": "The prompt was refused by moderation." if state == "failed" else None,
        "metadata": {"customer": "acme", "tier": "gold"},
    }
    if event_type == "task.progress":
        document |= {"type": "task.progress", "progress": 0.4, "estimated_end": None}
    if event_type == TEST_TYPE:
        document |= {"type": TEST_TYPE}
    return document


def type_of(document: dict[str, Any]) -> str:
    """An event document's type: the relay's own notices carry theirs, a task's is its state's."""
    return str(document.get("type") or f"task.{document.get('state')}")


def envelope(document: dict[str, Any], timestamp: str) -> dict[str, Any]:
    """The `webhook` format's event around a document (receiver/destinations/webhook.py)."""
    return {"type": type_of(document), "timestamp": timestamp, "data": document}


def example(event_type: str) -> dict[str, Any]:
    return envelope(example_document(event_type), "2026-01-01T00:00:00Z")
