"""An API key's own limits against a running relay, at both doors: `max_queued` (its tasks
not ended at once) and `max_per_day` (tasks made in 24 hours) refuse one more with 429,
`Retry-After` and the limit's name; a repeated request counts for nothing; the admin token
has no limit; and concurrent submits, on two replicas where the store allows it, never
let one past the limit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from receiver.keys.rules import DAY_SECONDS, QUEUED_RETRY_SECONDS
from tests.conftest import MakeRelay
from tests.e2e.test_keys import as_key
from tests.harness import Relay, image_to_video, wait_for

# A key's limits are counted under its lock in the store.
pytestmark = pytest.mark.every_backend

RUNWAY = {"X-Runway-Version": "2024-11-06"}
# Long enough that no task of these tests ends while they run.
SLOW = "queue=60 run=600"


def _key(relay: Relay, name: str, **limits: int) -> httpx.Client:
    scopes = ["tasks:submit", "tasks:read", "tasks:cancel"]
    made = relay.api.post("/v1/keys", json={"name": name, "scopes": scopes, **limits})
    assert made.status_code == 201, made.text
    for limit in ("max_queued", "max_per_day"):
        assert made.json()[limit] == limits.get(limit)
    return as_key(relay, made.json()["key"])


def _submit(client: httpx.Client, **headers: str) -> httpx.Response:
    return client.post("/v1/tasks", json=image_to_video(promptText=SLOW), headers=headers)


def _front_door(client: httpx.Client) -> httpx.Response:
    body = {"model": "gen4_turbo", "promptImage": "https://example.invalid/a.jpg"}
    return client.post(
        "/runwayml/v1/image_to_video", json={**body, "promptText": SLOW}, headers=RUNWAY
    )


def _cancel(client: httpx.Client, task_id: str) -> None:
    """Cancelled: at once while it waits, else at CometAPI once its send has been answered
    (409 while the send is in flight)."""
    wait_for(lambda: client.delete(f"/v1/tasks/{task_id}").status_code == 200)
    wait_for(lambda: client.get(f"/v1/tasks/{task_id}").json()["state"] == "cancelled")


def _refused(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 429, answer.text
    assert int(answer.headers["retry-after"]) >= 1
    return answer.json()


def test_max_queued_refuses_at_both_doors_until_a_task_ends(make_relay: MakeRelay):
    relay = make_relay()
    app = _key(relay, "app", max_queued=2)
    first = _submit(app, **{"Idempotency-Key": "first"})
    assert first.status_code == 202, first.text
    assert _front_door(app).status_code == 200

    refused = _refused(_submit(app))
    assert refused["error"] == "limit_reached" and refused["limit"] == "max_queued"
    assert "max_queued" in refused["detail"]
    at_door = _front_door(app)
    door = _refused(at_door)
    assert list(door) == ["error"] and "max_queued" in door["error"]
    assert int(at_door.headers["retry-after"]) == QUEUED_RETRY_SECONDS

    # A repeat of the first request answers its task and counts for nothing.
    again = _submit(app, **{"Idempotency-Key": "first"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    # The admin token has no limit; another key has its own.
    assert relay.submit(**image_to_video(promptText=SLOW)).status_code == 202
    other = _key(relay, "other", max_queued=1)
    assert _submit(other).status_code == 202

    # Once one of its tasks has ended, one more fits.
    _cancel(app, first.json()["id"])
    assert _submit(app).status_code == 202
    _refused(_submit(app))


def test_max_per_day_refuses_until_the_oldest_leaves_the_window(make_relay: MakeRelay):
    relay = make_relay()
    app = _key(relay, "daily", max_per_day=2, max_queued=10)
    listed = {k["name"]: k for k in relay.api.get("/v1/keys").json()["keys"]}
    assert listed["daily"]["max_per_day"] == 2 and listed["daily"]["max_queued"] == 10
    made = _submit(app)
    assert made.status_code == 202
    # A task that ended still counts for the day.
    _cancel(app, made.json()["id"])
    assert _front_door(app).status_code == 200

    answer = _submit(app)
    refused = _refused(answer)
    assert refused["limit"] == "max_per_day" and "max_per_day" in refused["detail"]
    # A place frees a day after the first task was made: a few seconds ago.
    assert DAY_SECONDS - 120 <= int(answer.headers["retry-after"]) <= DAY_SECONDS
    at_door = _front_door(app)
    assert "max_per_day" in _refused(at_door)["error"]
    assert [t["id"] for t in app.get("/v1/tasks").json()["tasks"]][-1] == made.json()["id"]
    assert len(app.get("/v1/tasks").json()["tasks"]) == 2


def test_concurrent_submits_at_both_doors_never_pass_max_queued(
    make_relay: MakeRelay, storage_url: str
):
    replicas = [make_relay()]
    if not storage_url.startswith("sqlite:"):
        replicas.append(make_relay())  # one store shared by two processes
    made = replicas[0].api.post(
        "/v1/keys", json={"name": "burst", "scopes": ["tasks:submit"], "max_queued": 5}
    )
    key = made.json()["key"]
    clients = [as_key(relay, key) for relay in replicas]
    for client in clients:  # each replica knows the key before the burst
        assert client.get("/v1/tasks/none-such").status_code == 403

    def submit(n: int) -> str:
        """Through either door, on either replica: accepted or refused."""
        client = clients[n % len(clients)]
        if (n // len(clients)) % 2:
            answer = _front_door(client)
            return {200: "accepted", 429: "refused"}.get(answer.status_code, answer.text)
        answer = _submit(client)
        return {202: "accepted", 429: "refused"}.get(answer.status_code, answer.text)

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(submit, range(20)))
    assert sorted(outcomes) == ["accepted"] * 5 + ["refused"] * 15, outcomes
    tasks = replicas[0].api.get("/v1/tasks").json()["tasks"]
    assert len(tasks) == 5
