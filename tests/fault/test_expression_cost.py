"""No expression can hold the event loop (issues 61 and 72): each filter and transform is
evaluated in a process whose CPU the kernel bounds (80 ms an evaluation), never in the
relay's. Three shapes that once held the loop for seconds: the 62-byte filter
`l.map(x, l).size() > 0` over a task's own 1,000-item metadata (42 s), macros nested behind
`//` comments that the static estimate could not see (654 bytes, 14.8 s), and a regex
compiled at each `matches` (636 bytes, 20.7 s). Each is stopped: a preview answers 422 saying
so while `/livez` answers, and each delivery (a downstream's filter, and the `webhook_filter`
of a key holding only `tasks:submit`) ends `filtered` with the reason, while an honest
downstream still gets its event. A transform whose body is over 1 MiB is a 422 at the
preview and a dead delivery saying so. The relay runs as a process, on both backends (the
deliveries' outcomes are stored)."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from receiver.outbox.rules.delivery import TASK_WEBHOOK
from tests.conftest import MakeRelay, webhook
from tests.harness import Relay, Sink, image_to_video, settled, wait_for

pytestmark = [pytest.mark.fault, pytest.mark.every_backend]

COSTLY = "event.data.metadata.l.map(x, event.data.metadata.l).size() > 0"
HUNDRED = "[" + ", ".join(["0"] * 100) + "]"
# The estimate read `//` as no comment: it saw no macro nested in another.
COMMENTED = f"{HUNDRED}.map //\n(x, {HUNDRED}.map //\n(y, {HUNDRED}.map //\n(z, 1))).size() > 0"
# Each `matches` compiles its pattern (about 57 ms for this one): one step to the estimate.
REGEX = "[" + ", ".join(["0"] * 300) + "].exists(x, 'a'.matches('\\\\w{200}'))"
# 100 copies of a 13,000-character field: a 1.3 MB body from a 2.3 KB transform, cheap to
# evaluate (each use copies what it is given once) but too big to send.
GIANT = '{"copies": [' + ", ".join(["event.data.metadata.s"] * 100) + "]}"
# The 1,000 items, and the long text, in one task's metadata (16 KiB at most).
METADATA = {"l": [0] * 1000, "s": "x" * 13_000}
STOPPED = "filter stopped: it used more than 80 ms of CPU"


def _livez_during(
    relay: Relay, ask: dict[str, Any], api: httpx.Client | None = None
) -> tuple[httpx.Response, list[int]]:
    """The preview's answer, and `/livez`'s statuses asked while the preview was out (at
    least once). Before, the first `/livez` waited out the whole evaluation."""
    asker = api or relay.api
    answers: list[httpx.Response] = []
    preview = threading.Thread(
        target=lambda: answers.append(asker.post("/v1/downstreams/preview", json=ask))
    )
    statuses: list[int] = []
    with httpx.Client(base_url=relay.url, timeout=10.0) as probe:
        preview.start()
        while preview.is_alive() or not statuses:
            statuses.append(probe.get("/livez").status_code)
    preview.join()
    return answers[0], statuses


def _ended(relay: Relay, task_id: str) -> dict[str, list[dict[str, Any]]] | None:
    found = relay.api.get("/v1/deliveries", params={"task_id": task_id}).json()["deliveries"]
    if any(delivery["state"] == "pending" for delivery in found):
        return None
    by_downstream: dict[str, list[dict[str, Any]]] = {}
    for delivery in found:
        by_downstream.setdefault(delivery["downstream"], []).append(delivery)
    return by_downstream


def _key(relay: Relay, scope: str) -> httpx.Client:
    made = relay.api.post("/v1/keys", json={"name": scope.replace(":", "-"), "scopes": [scope]})
    assert made.status_code == 201, made.text
    bearer = {"Authorization": f"Bearer {made.json()['key']}"}
    return httpx.Client(base_url=relay.url, timeout=30, headers=bearer)


def test_costly_expressions_are_stopped_in_words_everywhere_they_run(
    make_relay: MakeRelay, sink: Sink
) -> None:
    hostile = {"costly": COSTLY, "commented": COMMENTED, "regex": REGEX}
    relay = make_relay(
        [
            *(webhook(sink, name, filter=source) for name, source in hostile.items()),
            webhook(sink, "giant", transform=GIANT),
            webhook(sink, "honest", filter='event.data.state == "succeeded"'),
        ],
        delivery={"retry_schedule": [0.2, 0.2]},
    )
    # A key holding only tasks:submit, whose tasks' own webhooks carry the filters.
    submitter = _key(relay, "tasks:submit")
    tasks = []
    for source in (REGEX, COMMENTED):
        ask = {"webhook": f"{sink.url}/own", "webhook_filter": source, "metadata": METADATA}
        submitted = submitter.post("/v1/tasks", json={**image_to_video(), **ask})
        assert submitted.status_code == 202, submitted.text
        tasks.append(submitted.json()["id"])
    submitter.close()
    for task_id in tasks:
        relay.wait_task(task_id, settled)

    # Previewed by a key holding only `downstreams` on the example event; on a task's own
    # 1,000 items by the admin.
    previewer = _key(relay, "downstreams")
    for ask, api in (
        ({"filter": COMMENTED, "type": "task.succeeded"}, previewer),
        ({"filter": REGEX, "type": "task.succeeded"}, previewer),
        ({"filter": COSTLY, "task_id": tasks[0]}, relay.api),
    ):
        refused, statuses = _livez_during(relay, ask, api)
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"] == STOPPED
        assert statuses and set(statuses) == {200}, statuses
    previewer.close()
    too_big, statuses = _livez_during(relay, {"transform": GIANT, "task_id": tasks[0]})
    assert too_big.status_code == 422, too_big.text
    assert "transform made a body of" in too_big.json()["detail"]
    assert "over 1,048,576 (1 MiB)" in too_big.json()["detail"]
    assert statuses and set(statuses) == {200}, statuses

    for task_id in tasks:
        ended = wait_for(lambda task_id=task_id: _ended(relay, task_id))
        # The task's own webhook is kept as its app's (`<app id>.task-webhook`).
        hook = next((n for n in ended if n.endswith(TASK_WEBHOOK)), TASK_WEBHOOK)
        for name in (*hostile, hook):
            assert ended.get(name), ended
            for delivery in ended[name]:
                assert delivery["state"] == "filtered", delivery
                assert delivery["last_error"] == STOPPED, delivery
        assert ended["giant"], ended
        for delivery in ended["giant"]:
            assert delivery["state"] == "dead", delivery
            assert "transform made a body of" in delivery["last_error"], delivery
        assert [d["state"] for d in ended["honest"]] == ["succeeded"], ended["honest"]
    # Only the honest downstream was sent anything: every hostile filter was stopped.
    assert {hit["path"] for hit in sink.received()} == {"/honest"}
