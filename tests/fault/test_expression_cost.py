"""No expression can hold the event loop (issue 61): the 62-byte filter
`l.map(x, l).size() > 0` over a task's own 1,000-item metadata once froze the relay ~42 s at
a preview and at each delivery attempt (as a downstream's filter, and as the `webhook_filter`
of a key holding only `tasks:submit`). Each evaluation is now weighed against the sizes of
the event before it runs: the preview is a 422 naming the field while `/livez` answers, and
each such delivery ends `filtered` with that reason. A transform whose body is over 1 MiB is
a 422 at the preview and a dead delivery saying so. The relay runs as a process, on both
backends (the deliveries' outcomes are stored)."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from receiver.lifecycle.rules.routing import TASK_WEBHOOK
from tests.conftest import MakeRelay, webhook
from tests.harness import Relay, Sink, image_to_video, settled, wait_for

pytestmark = [pytest.mark.fault, pytest.mark.every_backend]

COSTLY = "event.data.metadata.l.map(x, event.data.metadata.l).size() > 0"
# 100 copies of a 13,000-character field: a 1.3 MB body from a 2.3 KB transform, cheap to
# evaluate (each use copies what it is given once) but too big to send.
GIANT = '{"copies": [' + ", ".join(["event.data.metadata.s"] * 100) + "]}"
# The 1,000 items, and the long text, in one task's metadata (16 KiB at most).
METADATA = {"l": [0] * 1000, "s": "x" * 13_000}
CUT = "event.data.metadata.l holds 1,000 items"


def _livez_during(relay: Relay, ask: dict[str, Any]) -> tuple[httpx.Response, list[int]]:
    """The preview's answer, and `/livez`'s statuses asked while the preview was out (at
    least once). Before, the first `/livez` waited out the whole evaluation."""
    answers: list[httpx.Response] = []
    preview = threading.Thread(
        target=lambda: answers.append(relay.api.post("/v1/downstreams/preview", json=ask))
    )
    statuses: list[int] = []
    with httpx.Client(base_url=relay.url, timeout=10.0) as probe:
        preview.start()
        while preview.is_alive() or not statuses:
            statuses.append(probe.get("/livez").status_code)
    preview.join()
    return answers[0], statuses


def _ended(relay: Relay, task_id: str) -> dict[str, list[dict[str, Any]]]:
    found = relay.api.get("/v1/deliveries", params={"task_id": task_id}).json()["deliveries"]
    by_downstream: dict[str, list[dict[str, Any]]] = {}
    for delivery in found:
        by_downstream.setdefault(delivery["downstream"], []).append(delivery)
    return by_downstream


def test_a_costly_filter_is_cut_naming_the_field_everywhere_it_runs(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay(
        [webhook(sink, "costly", filter=COSTLY), webhook(sink, "giant", transform=GIANT)],
        delivery={"retry_schedule": [0.2, 0.2]},
    )
    # A key holding only tasks:submit, whose task's own webhook carries the filter.
    made = relay.api.post("/v1/keys", json={"name": "submitter", "scopes": ["tasks:submit"]})
    assert made.status_code == 201, made.text
    submitter = httpx.Client(
        base_url=relay.url, timeout=30, headers={"Authorization": f"Bearer {made.json()['key']}"}
    )
    submitted = submitter.post(
        "/v1/tasks",
        json={
            **image_to_video(),
            "metadata": METADATA,
            "webhook": f"{sink.url}/own",
            "webhook_filter": COSTLY,
        },
    )
    submitter.close()
    assert submitted.status_code == 202, submitted.text
    task_id = submitted.json()["id"]
    relay.wait_task(task_id, settled)

    refused, statuses = _livez_during(relay, {"filter": COSTLY, "task_id": task_id})
    assert refused.status_code == 422, refused.text
    assert CUT in refused.json()["detail"] and "filter would take" in refused.json()["detail"]
    assert statuses and set(statuses) == {200}, statuses
    too_big, statuses = _livez_during(relay, {"transform": GIANT, "task_id": task_id})
    assert too_big.status_code == 422, too_big.text
    assert "transform made a body of" in too_big.json()["detail"]
    assert "over 1,048,576 (1 MiB)" in too_big.json()["detail"]
    assert statuses and set(statuses) == {200}, statuses

    ended = wait_for(lambda: _ended(relay, task_id))
    for name in ("costly", TASK_WEBHOOK):
        assert ended.get(name), ended
        for delivery in ended[name]:
            assert delivery["state"] == "filtered", delivery
            assert CUT in delivery["last_error"], delivery
    assert ended["giant"], ended
    for delivery in ended["giant"]:
        assert delivery["state"] == "dead", delivery
        assert "transform made a body of" in delivery["last_error"], delivery
    # Nothing was sent: every filter was cut, every giant body refused.
    assert not sink.received()
