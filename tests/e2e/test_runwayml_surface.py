"""The rest of what Runway's latest Python SDK calls, through the relay's front door: every
create waited for with the async client too; a route the kinds table does not know passed
through to CometAPI (one the simulator serves, making a video or an image, and one it does
not); the routes that make no task; the organization's usage. Strict response validation,
no retries, the SDK's own model names.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from runwayml import AsyncRunwayML, BadRequestError, DefaultAsyncHttpxClient, NotFoundError

from tests.conftest import MakeRelay, webhook
from tests.e2e.test_runwayml_kinds import CREATES, VIDEO
from tests.e2e.test_sdk import sdk_client
from tests.harness import ADMIN_TOKEN, Simulator, Sink, wait_for


def async_client(base_url: str) -> AsyncRunwayML:
    return AsyncRunwayML(
        api_key=ADMIN_TOKEN,
        base_url=f"{base_url}/runwayml",
        max_retries=0,
        timeout=15,
        http_client=DefaultAsyncHttpxClient(trust_env=False),
        _strict_response_validation=True,
    )


def test_every_sdk_create_waited_for_with_the_async_client(make_relay: MakeRelay) -> None:
    relay = make_relay()

    async def run() -> dict[str, object]:
        async with async_client(relay.url) as client:
            created = {kind: await create(client) for kind, create in CREATES.items()}
            done = await asyncio.gather(*(t.wait_for_task_output() for t in created.values()))
            return dict(zip(created, done, strict=True))

    for kind, task in asyncio.run(run()).items():
        assert task.status == "SUCCEEDED" and task.output, (kind, task)  # type: ignore[attr-defined]
        assert relay.task(task.id)["kind"] == kind  # type: ignore[attr-defined]


def test_a_route_the_table_does_not_know_is_passed_through(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
) -> None:
    relay = make_relay([webhook(sink)])
    with sdk_client(relay.url, ADMIN_TOKEN) as client:
        hdr = client.video_to_hdr.create(model="ruby", video_uri=VIDEO, output_format="hdr10")
        stock = client.recipes.marketing_stock_image(prompt="a bike ad", version="2026-06")
        done = {name: t.wait_for_task_output() for name, t in (("hdr", hdr), ("stock", stock))}
    assert all(task.status == "SUCCEEDED" and task.output for task in done.values())
    bodies = {task["kind"]: task["body"] for task in sim.tasks()}
    assert bodies["video_to_hdr"] == {"model": "ruby", "videoUri": VIDEO, "outputFormat": "hdr10"}
    assert bodies["recipes/marketing_stock_image"]["prompt"] == "a bike ad"
    listed = {t["id"]: t for t in relay.api.get("/v1/tasks").json()["tasks"]}
    assert listed[hdr.id]["kind"] == "video_to_hdr" and listed[hdr.id]["passed_through"]
    assert listed[stock.id]["kind"] == "recipes/marketing_stock_image"

    # Its output type read from its answer: an image.
    def delivered() -> dict[str, str] | None:
        documents = [json.loads(hit["body"])["data"] for hit in sink.accepted("/hook")]
        types = {d["task_id"]: d["output_type"] for d in documents if d["state"] == "succeeded"}
        return types if {hdr.id, stock.id} <= set(types) else None

    types = wait_for(delivered)
    assert types[hdr.id] == "video" and types[stock.id] == "image"
    # The console shows such a kind as passed through, in the list and on its page.
    console = relay.console()
    assert "passed through" in console.get("/console/tasks").text
    assert "passed through to CometAPI" in console.get(f"/console/tasks/{hdr.id}").text
    image_to_video = relay.api.get("/v1/tasks", params={"kind": "image_to_video"}).json()
    assert all(not t["passed_through"] for t in image_to_video["tasks"])


def test_a_route_cometapi_does_not_serve_leaves_no_task(make_relay: MakeRelay, sink: Sink) -> None:
    relay = make_relay([webhook(sink)])
    with sdk_client(relay.url, ADMIN_TOKEN) as client:
        with pytest.raises(NotFoundError) as refused:
            client.avatar_videos.create(
                model="gwm1_avatars",
                avatar={"type": "runway-preset", "preset_id": "game-character"},
                speech={"type": "text", "text": "hello"},
            )
        assert refused.value.body == {"error": "CometAPI does not serve avatar_videos"}
        assert relay.api.get("/v1/tasks").json()["tasks"] == []
        # Nothing of it reached a downstream: a later task's events arrive alone.
        served = client.video_to_hdr.create(model="ruby", video_uri=VIDEO).wait_for_task_output()
        documents = wait_for(
            lambda: (
                [json.loads(h["body"])["data"] for h in sink.accepted("/hook")]
                if any(
                    json.loads(h["body"])["data"]["state"] == "succeeded"
                    for h in sink.accepted("/hook")
                )
                else None
            )
        )
        assert {d["task_id"] for d in documents} == {served.id}
        # A route that makes no task: the relay says it does not offer it.
        with pytest.raises(NotFoundError) as absent:
            client.voices.list(limit=10)
        assert absent.value.body == {"error": "the relay does not offer GET /v1/voices"}
        with pytest.raises(NotFoundError, match="does not offer POST /v1/workflows"):
            client.workflows.run("wf_1")
        # An unknown model is refused as CometAPI refuses it.
        with pytest.raises(BadRequestError, match="model gen9 is not available"):
            client.video_to_video.create(
                model="gen9",  # type: ignore[arg-type]
                video_uri=VIDEO,
                prompt_text="make it snow",
            )


def test_usage_is_the_credits_per_model_per_day(make_relay: MakeRelay) -> None:
    relay = make_relay()
    with sdk_client(relay.url, ADMIN_TOKEN) as client:
        made = [
            CREATES[kind](client) for kind in ("image_to_video", "text_to_video", "sound_effect")
        ]
        for task in made:
            task.wait_for_task_output()
        today = datetime.now(UTC).date()
        usage = client.organization.retrieve_usage(
            start_date=today - timedelta(days=2), before_date=today + timedelta(days=1)
        )
        default = client.organization.retrieve_usage()
    charged = {
        t.id: (relay.task(t.id)["point"] or 0) - (relay.task(t.id)["refund"] or 0) for t in made
    }
    assert all(charged.values())  # each ended task's cost.credits, kept
    assert [day.date for day in usage.results] == [today - timedelta(days=n) for n in (2, 1, 0)]
    spent = {credit.model: credit.amount for credit in usage.results[-1].used_credits}
    assert set(usage.models) == {"gen4.5", "seed_audio"}
    assert sum(spent.values()) == round(sum(charged.values()))
    assert len(default.results) == 30 and not any(day.used_credits for day in default.results)
    answer = relay.api.get(
        "/runwayml/v1/organization/usage",
        params={"startDate": "2026-01-01", "beforeDate": "2026-06-01"},
        headers={"X-Runway-Version": "2024-11-06"},
    )
    assert answer.status_code == 400 and "90 days" in answer.json()["error"]
