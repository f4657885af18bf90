"""Progress events: when one is made, how a newer one takes an unsent one's place, and what
a terminal event does to those still waiting."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from receiver.config import DownstreamConfig
from receiver.config.downstream import ManagedDownstreamConfig
from receiver.destinations.chat_message import headline
from receiver.destinations.publishing import fill
from receiver.destinations.webhook import webhook
from receiver.lifecycle.rules.routing import LastSent, estimated_end, progress_due, supersedes
from receiver.outbox.rules.delivery import (
    TASK_WEBHOOK,
    Coalesced,
    Subscription,
    TaskRoute,
    Waiting,
    coalesce,
    recipients,
    replaceable,
)
from receiver.outbox.rules.event_types import PROGRESS
from receiver.tasks.submit import Routing

NOW = 1_000.0


@pytest.mark.parametrize(
    ("state", "progress", "last", "due"),
    [
        ("running", 0.2, None, True),  # the first figure of a running task
        ("running", None, None, False),  # no figure, nothing to tell
        ("running", 0.0, None, False),  # nothing done yet
        ("queued", 0.2, None, False),  # not started
        ("succeeded", 1.0, None, False),  # the terminal event says it
        ("failed", 0.4, None, False),
        ("running", 0.3, LastSent(0.2, NOW - 10), True),  # the throttle's time is up
        ("running", 0.3, LastSent(0.2, NOW - 9.9), False),  # throttled: the next poll tells
        ("running", 0.2, LastSent(0.2, NOW - 60), False),  # the same figure: nothing new
        ("running", 0.1, LastSent(0.2, NOW - 60), False),  # never seen going back
    ],
)
def test_a_progress_event_is_made_for_a_new_higher_figure_at_most_once_a_throttle(
    state: str, progress: float | None, last: LastSent | None, due: bool
) -> None:
    assert progress_due(state, progress, last, NOW, every=10.0) is due


def test_a_throttle_of_zero_tells_every_higher_figure() -> None:
    assert progress_due("running", 0.21, LastSent(0.2, NOW), NOW, every=0.0)


def test_the_estimated_end_follows_the_rate_since_the_task_was_seen_running() -> None:
    # 40 s since it started, 40 % done: the end is 60 s away.
    assert estimated_end(NOW - 40, NOW, 0.4) == "1970-01-01T00:17:40Z"
    assert estimated_end(None, NOW, 0.4) is None  # never seen running before
    assert estimated_end(NOW - 40, NOW, 0.01) is None  # too little to say


def _row(downstream: str, **kw: object) -> Waiting:
    fields: dict[str, object] = {"state": "pending", "attempts": 0, "lease_until": None}
    fields.update(kw)
    return Waiting(f"msg_{downstream}", downstream, **fields)  # type: ignore[arg-type]


def test_a_row_never_tried_nor_leased_takes_the_newer_event() -> None:
    assert replaceable(_row("a"), NOW)
    assert replaceable(_row("a", state="held"), NOW)  # its downstream is disabled
    assert replaceable(_row("a", lease_until=NOW - 1), NOW)  # a lease that ran out
    assert not replaceable(_row("a", attempts=1), NOW)  # tried once: it is its own
    assert not replaceable(_row("a", lease_until=NOW + 30), NOW)  # being sent now


def test_coalescing_replaces_the_waiting_rows_and_adds_rows_for_the_others() -> None:
    wanted = [("a", "pending"), ("b", "pending"), ("c", "held")]
    waiting = [_row("a"), _row("b", attempts=2), _row("c", state="held")]
    plan = coalesce(wanted, waiting, NOW)  # type: ignore[arg-type]
    assert plan == Coalesced(new=[("b", "pending")], replaced=["msg_a", "msg_c"])


def test_with_nothing_waiting_every_subscriber_gets_a_new_row() -> None:
    plan = coalesce([("a", "pending")], [], NOW)
    assert plan == Coalesced(new=[("a", "pending")], replaced=[])


def test_only_a_terminal_event_ends_the_progress_still_waiting() -> None:
    assert all(supersedes(s) for s in ("succeeded", "failed", "cancelled"))
    assert not supersedes("running") and not supersedes("queued")


def test_progress_goes_only_where_it_was_asked_for() -> None:
    subs = {
        "hooks": Subscription(frozenset({"succeeded", "progress"})),
        "chat": Subscription(frozenset({"succeeded", "running"})),  # running is not progress
    }
    asked = TaskRoute(webhook_events=frozenset({"progress", "succeeded"}))
    assert recipients(PROGRESS, subs, set(), False, asked) == [
        ("hooks", "pending"),
        (TASK_WEBHOOK, "pending"),
    ]
    terminal_only = TaskRoute(webhook_events=frozenset({"succeeded"}))
    assert recipients(PROGRESS, subs, set(), False, terminal_only) == [("hooks", "pending")]


def test_a_progress_event_reads_as_one_in_every_format() -> None:
    document = {
        "event_id": "evt_1",
        "task_id": "tsk_1",
        "kind": "image_to_video",
        "state": "running",
        "type": "task.progress",
        "progress": 0.42,
        "occurred_at": NOW,
    }
    assert webhook(document)["type"] == "task.progress"
    assert headline(document).endswith("tsk_1 running 42%")
    assert not headline({**document, "type": None}).endswith("%")


def test_progress_is_asked_for_by_name_and_never_by_default() -> None:
    made = ManagedDownstreamConfig(name="app", url="https://example.com/h", events=["progress"])
    assert made.events == ["progress"]
    for fmt, url in (("slack", "https://hooks.slack.com/services/T/B/x"), ("webhook", None)):
        assert "progress" not in DownstreamConfig(name="d", format=fmt, url=url).events
    with pytest.raises(ValidationError):
        DownstreamConfig(name="d", events=["progres"])
    asked = Routing(webhook="https://example.com/t", webhook_events=["progress", "succeeded"])
    assert asked.routing() == {
        "webhook": "https://example.com/t",
        "webhook_events": ["progress", "succeeded"],
    }
    default = Routing(webhook="https://example.com/t").routing()
    assert default is not None and "progress" not in default["webhook_events"]


def test_a_broker_names_a_progress_event_apart_from_the_running_state() -> None:
    document = {"state": "running", "kind": "image_to_video", "task_id": "tsk_1"}
    assert fill("runway.{state}.{task_id}", document) == "runway.running.tsk_1"
    progress = {**document, "type": "task.progress"}
    assert fill("runway.{state}.{task_id}", progress) == "runway.progress.tsk_1"
