"""One app's tasks' own webhooks, hanging, hold only that app's lane: each app's task
webhooks have their own slots (`delivery.task_webhook_max_in_flight` each) and breaker, so
app B's go out while app A's hold every slot A has."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import MakeRelay
from tests.e2e.test_apps import app_key, make_app
from tests.e2e.test_keys import as_key
from tests.harness import Relay, Sink, image_to_video, wait_for

pytestmark = pytest.mark.fault

CAP = 2  # each app's task webhooks' slots
HELD = 40.0  # how long the hung receiver holds each request


def _app(relay: Relay, name: str) -> httpx.Client:
    make_app(relay, name)
    return as_key(relay, app_key(relay, name, f"{name}-key", ["tasks:submit", "tasks:read"]))


def _submit(client: httpx.Client, url: str) -> None:
    body: dict[str, Any] = {**image_to_video(), "webhook": url, "webhook_events": ["succeeded"]}
    answer = client.post("/v1/tasks", json=body)
    assert answer.status_code == 202, answer.text


def test_one_apps_hanging_task_webhooks_leave_anothers_slots_free(
    make_relay: MakeRelay, make_sink: Callable[[], Sink]
) -> None:
    hung, healthy = make_sink(), make_sink()
    hung.mode(delay_seconds=HELD)
    relay = make_relay(
        delivery={"task_webhook_max_in_flight": CAP, "task_webhook_timeout": HELD - 5}
    )
    alpha, beta = _app(relay, "alpha"), _app(relay, "beta")
    for n in range(CAP + 2):
        _submit(alpha, f"{hung.url}/alpha-{n}")
    # A holds every slot it has.
    wait_for(lambda: len(hung.received()) >= CAP or None)
    _submit(beta, f"{healthy.url}/beta")
    [delivered] = wait_for(lambda: healthy.accepted("/beta") or None)
    held = hung.received()
    assert len(held) == CAP  # A's others wait for A's own slots
    assert all("released_at" not in h for h in held), "B waited for A's slots"
    assert all(h["received_at"] < delivered["received_at"] for h in held)
