"""One JSON rule at every door: what is nested too deep, or holds an integer beyond 64 bits,
is refused with a 400 when the body is read, so nothing accepted can wedge the store, the
answers or the deliveries afterwards."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import MakeRelay, webhook
from tests.fault.support import all_tasks, callback_body
from tests.harness import ADMIN_TOKEN, Simulator, Sink, terminal, video2video, wait_for

pytestmark = pytest.mark.fault

RUNWAY_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Runway-Version": "2024-11-06"}


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"a": value}
    return value


def _text(value: Any) -> bytes:
    return httpx.Request("POST", "http://x", json=value).content


def test_deep_or_huge_json_is_refused_at_every_door(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
) -> None:
    relay = make_relay([webhook(sink, events=["succeeded"])])
    deep = relay.submit(**video2video(metadata=_nested(300)))
    assert deep.status_code == 400 and "nested" in deep.json()["detail"], deep.text
    for options in ({"n": 2**64}, {"n": -(2**63) - 1}):
        huge = relay.submit(**video2video(options=options))
        assert huge.status_code == 400 and "64 bits" in huge.json()["detail"], huge.text
    front = relay.anon.post(
        "/runwayml/v1/image_to_video",
        content=_text({"promptImage": "https://example.invalid/a.png", "x": _nested(300)}),
        headers={**RUNWAY_HEADERS, "Content-Type": "application/json"},
    )
    assert front.status_code == 400, front.text
    made = relay.api.post("/v1/downstreams", content=_text({"name": "d", "x": _nested(300)}))
    assert made.status_code == 400, made.text

    # What the rule lets in is stored, answered and delivered whole, integers exact.
    kept = {"deep": _nested(25), "big": 2**64 - 1, "small": -(2**63)}
    sent = relay.submitted(**video2video(metadata=kept))
    assert relay.task(sent["id"])["metadata"] == kept
    deep_callback = callback_body(sent["upstream_task_id"], extra=_nested(300))
    token = sent["callback_url"].rsplit("/", 1)[1]
    refused = relay.anon.post(f"/callbacks/runway/{token}", content=deep_callback)
    assert refused.status_code == 400, refused.text
    done = relay.wait_task(sent["id"], terminal)
    assert done["state"] == "succeeded"
    assert all_tasks(relay) and relay.api.get("/v1/tasks").status_code == 200
    hits = wait_for(lambda: sink.accepted("/hook"))
    assert hits[0]["json"]["data"]["metadata"] == kept


def test_nul_is_refused_by_name_at_every_door(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
) -> None:
    """PostgreSQL's text and jsonb cannot hold NUL: a data URI with it answered 500, a
    `model` with it made a task that failed, a downstream's URL with it was made. Each is a
    422 naming its field (Runway's 400 at its front door), on both backends, and nothing is
    stored."""
    relay = make_relay()
    uri = "data:video/mp4;base64,AAAA\u0000AAAA"
    front = relay.anon.post(
        "/runwayml/v1/video_to_video",
        content=_text({"model": "gen4_aleph", "videoUri": uri, "promptText": "p"}),
        headers={**RUNWAY_HEADERS, "Content-Type": "application/json"},
    )
    # Runway's shape and status there (its 400 for what the relay answers 422).
    assert front.status_code == 400, front.text
    assert front.json()["error"].startswith("videoUri: must not contain NUL"), front.text
    refused = {
        "model": relay.submit(**video2video(model="gen4\u0000")),
        "metadata.k\\u0000": relay.submit(**video2video(metadata={"k\u0000": 1})),
        "options.style": relay.submit(**video2video(options={"style": "\u0000"})),
        "url": relay.api.post("/v1/downstreams", json={"name": "d", "url": f"{sink.url}/\u0000"}),
        "name": relay.api.post("/v1/keys", json={"name": "k\u0000"}),
    }
    for field, answer in refused.items():
        assert answer.status_code == 422, (field, answer.text)
        assert answer.json()["detail"].startswith(f"{field}: "), (field, answer.text)
        assert "\u0000" not in answer.text
    assert all_tasks(relay) == []
    assert relay.api.get("/v1/downstreams").status_code == 200
    names = [d["name"] for d in relay.api.get("/v1/downstreams").json()["downstreams"]]
    assert "d" not in names
    sent = relay.submitted(**video2video())
    # CometAPI's callbacks keep their own rule: the text it keeps is made storable.
    token = sent["callback_url"].rsplit("/", 1)[1]
    odd = callback_body(sent["upstream_task_id"], status="FAILED", msg="bad\u0000")
    assert relay.anon.post(f"/callbacks/runway/{token}", content=odd).status_code == 200
    assert relay.wait_task(sent["id"], terminal)["state"] in ("succeeded", "failed")
