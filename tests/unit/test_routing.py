"""Which downstreams get a row for an event, and the state it waits in."""

from __future__ import annotations

from receiver.lifecycle.rules.routing import waits_for_mirror
from receiver.outbox.rules.delivery import (
    SECRET_HELD,
    TASK_WEBHOOK,
    Subscription,
    TaskRoute,
    held_reasons,
    is_task_webhook,
    notified_of,
    recipients,
    task_webhook_of,
)

SUBS = {
    "hooks": Subscription(frozenset({"succeeded", "failed"})),
    "chat": Subscription(frozenset({"succeeded"})),
    "ops": Subscription(frozenset({"downstream.disabled"})),
}


def test_only_the_downstreams_subscribed_to_the_state_get_a_row() -> None:
    assert recipients("failed", SUBS, set(), copying=False) == [("hooks", "pending")]
    assert recipients("running", SUBS, set(), copying=False) == []


def test_a_disabled_downstream_holds_and_a_copy_in_progress_makes_the_others_wait() -> None:
    rows = recipients("succeeded", SUBS, {"chat"}, copying=True)
    assert rows == [("hooks", "mirroring"), ("chat", "held")]


def test_a_downstream_that_cannot_be_used_holds_its_rows_with_the_reason() -> None:
    subs = {**SUBS, "chat": Subscription(frozenset({"succeeded"}), held=SECRET_HELD)}
    assert recipients("succeeded", subs, set(), copying=True) == [
        ("hooks", "mirroring"),
        ("chat", "held"),
    ]
    assert held_reasons(subs) == {"chat": SECRET_HELD}


def test_deliveries_wait_for_a_copy_only_for_a_success_with_files_while_mirroring() -> None:
    assert waits_for_mirror(True, "succeeded", ["https://cdn/x.mp4"])
    assert not waits_for_mirror(True, "succeeded", [])
    assert not waits_for_mirror(True, "failed", ["https://cdn/x.mp4"])
    assert not waits_for_mirror(False, "succeeded", ["https://cdn/x.mp4"])


def test_a_disabled_notice_goes_to_its_subscribers_but_never_to_the_disabled_one() -> None:
    subs = {**SUBS, "hooks": Subscription(frozenset({"downstream.disabled"}))}
    assert notified_of("downstream.disabled", "hooks", subs) == ["ops"]
    assert notified_of("downstream.disabled", "chat", subs) == ["hooks", "ops"]


def test_a_downstream_with_channels_gets_only_the_tasks_that_name_one() -> None:
    subs = {**SUBS, "orders": Subscription(frozenset({"succeeded"}), frozenset({"orders"}))}
    plain = recipients("succeeded", subs, set(), copying=False)
    assert [name for name, _ in plain] == ["hooks", "chat"]
    named = TaskRoute(channels=frozenset({"orders", "other"}))
    routed = recipients("succeeded", subs, set(), copying=False, route=named)
    assert [name for name, _ in routed] == ["hooks", "chat", "orders"]


def test_a_tasks_own_webhook_gets_the_states_it_asked_for_and_is_never_held() -> None:
    route = TaskRoute(webhook_events=frozenset({"running", "succeeded"}))
    assert recipients("running", SUBS, set(), False, route) == [(TASK_WEBHOOK, "pending")]
    rows = recipients("succeeded", SUBS, {TASK_WEBHOOK, "chat"}, True, route)
    assert rows == [("hooks", "mirroring"), ("chat", "held"), (TASK_WEBHOOK, "mirroring")]
    assert recipients("failed", SUBS, set(), False, route) == [("hooks", "pending")]
    assert (TASK_WEBHOOK, "pending") not in recipients("running", SUBS, set(), False)


def test_an_apps_downstream_takes_only_its_apps_tasks() -> None:
    from receiver.outbox.rules.delivery import (
        Subscription,
        TaskRoute,
        looks_owned,
        owned_name,
        owner_of,
        recipients,
        shown_name,
    )

    alpha, beta = "app_" + "a" * 24, "key_" + "b" * 24
    kept = owned_name(alpha, "hooks")
    assert owner_of(kept) == alpha and shown_name(kept) == "hooks" and looks_owned(kept)
    assert owner_of("hooks") is None and shown_name("hooks") == "hooks"
    assert owner_of("app_short.hooks") is None  # not an app's id: a global name
    subs = {
        kept: Subscription(frozenset({"succeeded"}), owner=alpha),
        owned_name(beta, "hooks"): Subscription(frozenset({"succeeded"}), owner=beta),
        "global": Subscription(frozenset({"succeeded"})),
    }
    got = recipients("succeeded", subs, set(), False, TaskRoute(owner=alpha))
    assert sorted(n for n, _ in got) == sorted([kept, "global"])
    admins = recipients("succeeded", subs, set(), False, TaskRoute())
    assert [n for n, _ in admins] == ["global"]


def test_an_app_hears_only_of_its_own_downstreams() -> None:
    from receiver.outbox.rules.delivery import Subscription, notified_of, owned_name

    alpha, beta = "app_" + "a" * 24, "app_" + "b" * 24
    subs = {
        owned_name(alpha, "watch"): Subscription(frozenset({"downstream.disabled"}), owner=alpha),
        "ops": Subscription(frozenset({"downstream.disabled"})),
    }
    assert notified_of("downstream.disabled", owned_name(beta, "x"), subs) == ["ops"]
    told = notified_of("downstream.disabled", owned_name(alpha, "x"), subs)
    assert sorted(told) == sorted([owned_name(alpha, "watch"), "ops"])


def test_an_apps_tasks_own_webhook_is_a_lane_of_its_apps_own() -> None:
    app = "app_" + "a" * 24
    route = TaskRoute(webhook_events=frozenset({"succeeded"}), owner=app)
    assert recipients("succeeded", {}, set(), copying=False, route=route) == [
        (f"{app}.task-webhook", "pending")
    ]
    operators = TaskRoute(webhook_events=frozenset({"succeeded"}))
    assert recipients("succeeded", {}, set(), False, operators) == [(TASK_WEBHOOK, "pending")]
    assert task_webhook_of(app) == f"{app}.task-webhook" and task_webhook_of(None) == TASK_WEBHOOK
    assert is_task_webhook(TASK_WEBHOOK) and is_task_webhook(f"{app}.task-webhook")
    # An app's downstream whose own name merely ends so is no task's webhook.
    assert not is_task_webhook(f"{app}.hooks.task-webhook") and not is_task_webhook("hooks")
