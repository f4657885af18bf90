"""Runway's own API shape under `/runwayml`, driven by Runway's official Python SDK as its
users call it: strict response validation, no retries, the base URL moved to the relay.

Each create is an ordinary relay task: the same id answers `GET /v1/tasks/{id}`, and the
result reaches the downstreams like any other task's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from runwayml import AuthenticationError, BadRequestError, RunwayML

from tests.conftest import MakeRelay, webhook
from tests.e2e.test_sdk import create_i2v as create  # one image_to_video the SDK way
from tests.e2e.test_sdk import sdk_client
from tests.harness import ADMIN_TOKEN, Relay, Simulator, Sink, wait_for

Client = Callable[..., RunwayML]


@pytest.fixture
def runway() -> Iterator[Client]:
    made: list[RunwayML] = []

    def make(relay: Relay, api_key: str = ADMIN_TOKEN) -> RunwayML:
        client = sdk_client(relay.url, api_key)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def test_an_sdk_create_is_a_relay_task_waited_for_and_delivered(
    make_relay: MakeRelay, sink: Sink, runway: Client
) -> None:
    relay = make_relay([webhook(sink)])
    client = runway(relay)
    created = create(client)
    assert relay.task(created.id)["kind"] == "image_to_video"
    # The SDK's own wait: its fixed sleep between polls, its models on every answer.
    done = client.tasks.retrieve(created.id).wait_for_task_output()
    assert done.status == "SUCCEEDED"
    assert done.output == relay.task(created.id)["outputs"]
    assert done.cost.credits >= 0
    delivered = wait_for(lambda: sink.accepted("/hook") or None)
    documents = [json.loads(hit["body"])["data"] for hit in delivered]
    assert {d["task_id"] for d in documents} == {created.id}


def test_video_to_video_through_the_sdk_and_a_wrong_key(
    make_relay: MakeRelay, runway: Client
) -> None:
    relay = make_relay()
    created = runway(relay).video_to_video.create(
        model="gen4_aleph",
        prompt_text="make it snow",
        video_uri="https://example.invalid/clip.mp4",
        ratio="1280:720",
    )
    task = wait_for(
        lambda: relay.task(created.id) if relay.task(created.id)["state"] != "queued" else None
    )
    assert task["kind"] == "video_to_video"
    assert runway(relay).tasks.retrieve(created.id).status in ("RUNNING", "SUCCEEDED")
    with pytest.raises(AuthenticationError):
        create(runway(relay, api_key="not-the-admin-token-at-all"))
    assert relay.api.get("/v1/tasks").json()["tasks"][0]["id"] == created.id  # nothing made


def test_what_cometapi_refuses_is_a_400_in_runways_shape_and_a_failed_task(
    make_relay: MakeRelay, sim: Simulator, runway: Client
) -> None:
    """Which ratios and seeds exist is CometAPI's to judge: an unknown one is passed on, not
    refused here; CometAPI's refusal comes back as Runway gives it."""
    relay = make_relay()
    with pytest.raises(BadRequestError) as refused:
        create(runway(relay), ratio="999:999")
    assert "ratio" in refused.value.body["error"]
    [task] = relay.api.get("/v1/tasks", params={"state": "failed"}).json()["tasks"]
    assert task["submission"] == "not_sent" and sim.stats()["submits"] == 1
    with pytest.raises(BadRequestError) as refused:
        create(runway(relay), seed=-1)
    assert "seed" in refused.value.body["error"] and sim.stats()["submits"] == 2
    # What holds for every route is still checked here, before anything leaves.
    with pytest.raises(BadRequestError) as invalid:
        create(runway(relay), model=" ")
    assert invalid.value.body["error"].startswith("model:")
    assert sim.stats()["submits"] == 2


def test_a_task_the_queue_holds_is_throttled_and_deleted_without_reaching_cometapi(
    make_relay: MakeRelay, sim: Simulator, runway: Client
) -> None:
    relay = make_relay()
    client = runway(relay)
    sim.faults(submit_status=503)  # CometAPI busy: the relay keeps the task queued
    created = create(client)
    assert client.tasks.retrieve(created.id).status == "THROTTLED"
    client.tasks.delete(created.id)
    assert client.tasks.retrieve(created.id).status == "CANCELLED"
    sim.faults(submit_status=None)
    assert relay.task(created.id)["upstream_task_id"] is None
    client.tasks.delete(created.id)  # ended: nothing to cancel, as Runway's DELETE allows


def test_the_headers_runway_requires_and_its_error_shape(make_relay: MakeRelay) -> None:
    relay = make_relay()
    url = f"{relay.url}/runwayml/v1/tasks/tsk_none"
    bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    missing = httpx.get(url, headers=bearer)
    assert missing.status_code == 400 and "X-Runway-Version" in missing.json()["error"]
    gone = httpx.get(url, headers={**bearer, "X-Runway-Version": "2024-11-06"})
    assert gone.status_code == 404 and gone.json() == {"error": "task not found"}
    unsigned = httpx.get(url, headers={"X-Runway-Version": "2024-11-06"})
    assert unsigned.status_code == 401 and unsigned.headers["www-authenticate"] == "Bearer"
    # A route the front door does not have is refused in the same shape.
    for method, path in (("GET", "/runwayml/v1/nope"), ("PUT", "/runwayml/v1/image_to_video")):
        answer = httpx.request(method, f"{relay.url}{path}", headers=bearer)
        assert answer.status_code in (404, 405)
        assert list(answer.json()) == ["error"] and isinstance(answer.json()["error"], str)


def test_output_lists_the_relays_own_copies_once_made(
    make_relay: MakeRelay, sim: Simulator, runway: Client, tmp_path: Path
) -> None:
    relay = make_relay(
        media={"enabled": True, "dir": str(tmp_path / "media"), "allow_private_networks": True}
    )
    client = runway(relay)
    created = create(client)

    def copied() -> list[str] | None:
        media = relay.task(created.id)["media"] or {}  # first: the copy is made by then
        task = client.tasks.retrieve(created.id)
        return task.output if media.get("status") == "mirrored" else None

    output = wait_for(copied)
    assert output and all(url.startswith(f"{relay.url}/media/") for url in output)
    assert httpx.get(output[0]).status_code == 200
