"""A callback is a claim: only CometAPI's authenticated answer changes a task.

Anyone who learns a callback URL can post to it, and CometAPI signs nothing. These tests
post forged bodies to valid URLs, make CometAPI unreachable, and check what reaches the
downstreams: nothing forged, and the genuine result exactly once.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.conftest import MakeRelay, webhook
from tests.harness import (
    Relay,
    Simulator,
    Sink,
    image_to_video,
    metric,
    settled,
    video2video,
    wait_for,
)

# A claim is kept, then judged, in the store's transactions.
pytestmark = pytest.mark.every_backend

EVIL = "https://attacker.invalid/evil.mp4"


def forge(callback_url: str, **fields: Any) -> httpx.Response:
    """What anyone holding the URL can send: CometAPI's documented flat body."""
    return httpx.post(callback_url, json={"status": "3", "video_url": EVIL, **fields}, timeout=10)


def callbacks(task: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in task["events"] if e["source"] == "callback"]


def delivered(sink: Sink) -> list[dict[str, Any]]:
    return [json.loads(h["body"]) for h in sink.accepted()]


def test_a_forged_success_delivers_nothing_forged_and_the_genuine_result_once(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
):
    relay = make_relay([webhook(sink)])
    # A render of some seconds, so that the forger's claim surely comes before the genuine
    # callback, even on a loaded machine (the two are told apart by when they came).
    submitted = relay.submitted(**video2video(prompt="pixel-art redraw queue=1 run=5"))
    upstream = submitted["upstream_task_id"]

    # Before the render is done, the forger claims it is, with their own video.
    answer = forge(submitted["callback_url"], task_id=upstream)
    assert answer.status_code == 200 and "state" not in answer.json()
    assert relay.task(submitted["id"])["state"] in ("queued", "running")

    task = relay.wait_task(submitted["id"], lambda t: settled(t) and len(callbacks(t)) == 2)
    assert task["state"] == "succeeded"
    assert task["outputs"] and EVIL not in task["outputs"]
    forged, genuine = sorted(callbacks(task), key=lambda e: e["received_at"])
    assert (forged["verdict"], genuine["verdict"]) == ("contradicted", "confirmed")
    assert not forged["applied"] and not genuine["applied"]
    # Every state the task took came from CometAPI: the submit answer, then polls.
    applied = [(e["source"], e["state"]) for e in task["events"] if e["applied"]]
    assert {source for source, _ in applied} == {"submit", "poll"}
    assert applied[-1] == ("poll", "succeeded")

    # The credits are CometAPI's answer's (the same the genuine callback reported: only
    # the answer counts, so a forger's figures never do; tests/fault/test_forged_credits.py).
    [sent] = [c for c in sim.callbacks() if c["kind"] == "normal"]
    cost = json.loads(sent["body"])
    assert (task["point"], task["refund"]) == (float(cost["point"]), float(cost["refund"]))
    assert metric(relay.scrape(), "relay_credits", kind="charged") == task["point"]

    # One delivery of the genuine result, and the forger's URL nowhere.
    events = delivered(sink)
    assert [e["type"] for e in events] == ["task.succeeded"]
    assert events[0]["data"]["outputs"] == task["outputs"]
    assert all(EVIL not in h["body"] for h in sink.received())

    metrics = relay.scrape()
    assert metric(metrics, "relay_callbacks_total", outcome="contradicted") == 1
    assert metric(metrics, "relay_callbacks_total", outcome="confirmed") == 1
    # The contradiction is logged at warning with both sides.
    [line] = [x for x in relay.log_lines() if x.get("event") == "callback.contradicted"]
    assert line["level"] == "warning"
    assert line["claimed_outputs"] == [EVIL] and line["upstream_outputs"] == task["outputs"]


def test_a_forged_success_on_a_task_that_fails_never_shows_as_success(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
):
    sim.faults(drop_rate=1.0)  # no genuine callback: the forger's is the only one
    relay = make_relay([webhook(sink)], polling={"callback_grace_seconds": 60})
    submitted = relay.submitted(**video2video(prompt="FAIL on purpose"))
    assert forge(submitted["callback_url"]).status_code == 200

    task = relay.wait_task(submitted["id"], settled)
    assert task["state"] == "failed"
    assert [e["verdict"] for e in callbacks(task)] == ["contradicted"]
    assert [e["type"] for e in delivered(sink)] == ["task.failed"]
    # The callback brought the poll forward: the task did not wait out the 60 s grace.
    assert task["terminal_at"] - task["created_at"] < 30


def test_corroboration_retries_while_cometapi_is_unreachable(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
):
    relay = make_relay([webhook(sink)], polling={"callback_grace_seconds": 60})
    submitted = relay.submitted(**video2video())
    # CometAPI fails the next three polls: the ones the genuine callback brings forward.
    sim.faults(poll_status=503, poll_status_count=3)
    task = relay.wait_task(submitted["id"], settled)
    assert task["state"] == "succeeded"
    [genuine] = callbacks(task)
    assert genuine["verdict"] == "confirmed"
    poll = next(e for e in task["events"] if e["source"] == "poll" and e["applied"])
    assert poll["received_at"] >= genuine["received_at"]
    failures = [x for x in relay.log_lines() if x.get("event") == "poll.failed"]
    assert failures, "the corroborating poll never met the outage"
    assert sim.stats()["poll_faults"] == 3
    assert [e["type"] for e in delivered(sink)] == ["task.succeeded"]


def test_trust_body_applies_the_callback_at_once_and_still_judges_it(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
):
    """The documented opt-out and its risk: the body's state and outputs are applied."""
    sim.faults(drop_rate=1.0)
    relay = make_relay([webhook(sink)], callbacks={"trust_body": True})
    submitted = relay.submitted(**video2video())
    assert forge(submitted["callback_url"]).status_code == 200
    task = relay.task(submitted["id"])
    assert (task["state"], task["outputs"]) == ("succeeded", [EVIL])
    task = relay.wait_task(submitted["id"], lambda t: callbacks(t)[0]["verdict"] != "pending")
    assert callbacks(task)[0]["verdict"] == "contradicted"


def test_cancel_an_official_task_upstream_and_refuse_what_cannot_be(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
):
    relay = make_relay([webhook(sink, events=["cancelled"])])
    task = relay.submitted(**image_to_video())
    answer = relay.api.delete(f"/v1/tasks/{task['id']}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "cancelled"
    [upstream] = [t for t in sim.tasks() if t["task_id"] == task["upstream_task_id"]]
    assert upstream["status"] == "cancelled"
    wait_for(lambda: [e["type"] for e in delivered(sink)] == ["task.cancelled"])

    again = relay.api.delete(f"/v1/tasks/{task['id']}")
    assert again.status_code == 409 and "ended" in again.json()["detail"]
    reverse = relay.submitted(**video2video())
    refused = relay.api.delete(f"/v1/tasks/{reverse['id']}")
    assert refused.status_code == 409 and "no cancel" in refused.json()["detail"]
    assert relay.api.delete("/v1/tasks/tsk_nope").status_code == 404
    assert relay.anon.delete(f"/v1/tasks/{task['id']}").status_code == 401


def test_an_unseeded_task_is_kept_as_sent_and_callback_url_is_refused(
    make_relay: MakeRelay, sim: Simulator
):
    relay = make_relay()
    # The seed is CometAPI's to choose when the caller gives none: the relay adds nothing.
    request = relay.task(relay.submit(**image_to_video()).json()["id"])["request"]
    assert "seed" not in request
    refused = relay.submit(**video2video(callback_url="https://example.invalid/mine"))
    assert refused.status_code == 422
    assert "sets its own signed callback URL" in refused.json()["detail"]


def _relay_for_floods(make_relay: MakeRelay, sim: Simulator, sink: Sink) -> Relay:
    sim.faults(drop_rate=1.0)
    return make_relay([webhook(sink)], callbacks={"min_poll_gap_seconds": 1})


def test_a_flood_of_callbacks_does_not_become_a_flood_of_polls(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
):
    relay = _relay_for_floods(make_relay, sim, sink)
    submitted = relay.submitted(**video2video())
    polls_before = sim.stats()["polls"]
    for i in range(200):
        assert forge(submitted["callback_url"], n=i).status_code == 200
    task = relay.wait_task(submitted["id"], settled)
    assert task["state"] == "succeeded"
    elapsed = task["terminal_at"] - task["created_at"]
    polls = sim.stats()["polls"] - polls_before
    # At most one poll per min_poll_gap, plus the claims' quick retries, over the life of
    # the task; 200 callbacks would have been 200 polls.
    assert polls <= 2 * (elapsed + 1) + 8, (polls, elapsed)
