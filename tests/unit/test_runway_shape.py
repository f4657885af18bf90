"""Runway's view of a relay task: its status word, cost and outputs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from receiver.lifecycle.rules.records import Task
from receiver.runway_api.shape import (
    copied_outputs,
    organization,
    relay_payload,
    runway_status,
    runway_task,
)

TASK = Task(
    id="tsk_1",
    kind="image_to_video",
    state="queued",
    upstream_task_id=None,
    upstream_status=None,
    request={},
    outputs=[],
    thumbnail=None,
    error=None,
    created_at=1_700_000_000.25,
    updated_at=1_700_000_000.25,
    terminal_at=None,
    next_poll_at=None,
    poll_attempts=0,
)


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({}, "THROTTLED"),  # the relay holds it: not at CometAPI yet
        ({"upstream_task_id": "u1"}, "PENDING"),
        ({"upstream_task_id": "u1", "upstream_status": "THROTTLED"}, "THROTTLED"),
        ({"upstream_task_id": "u1", "state": "running"}, "RUNNING"),
        ({"state": "succeeded"}, "SUCCEEDED"),
        ({"state": "failed"}, "FAILED"),
        ({"state": "cancelled"}, "CANCELLED"),
    ],
)
def test_each_relay_state_has_runways_word(changes: dict[str, str], status: str) -> None:
    assert runway_status(replace(TASK, **changes)) == status


def test_an_unfinished_task_shows_an_estimate_and_a_finished_one_its_cost() -> None:
    running = runway_task(replace(TASK, state="running", progress=1.7, point=320.0))
    assert running == {
        "id": "tsk_1",
        "status": "RUNNING",
        "createdAt": "2023-11-14T22:13:20.250Z",
        "estimatedCost": {"credits": 320.0},
        "progress": 1.0,
    }
    done = replace(TASK, state="succeeded", point=320.0, refund=20.0, outputs=["https://c/1"])
    assert runway_task(done)["cost"] == {"credits": 300}
    assert runway_task(done)["output"] == ["https://c/1"]
    assert runway_task(done, copies=["http://relay/media/x"])["output"] == ["http://relay/media/x"]


def test_a_failure_carries_its_code_when_known() -> None:
    failed = runway_task(replace(TASK, state="failed", error="bad frame"), None, "INTERNAL")
    assert (failed["failure"], failed["failureCode"], failed["cost"]) == (
        "bad frame",
        "INTERNAL",
        {"credits": 0},
    )
    assert "failureCode" not in runway_task(replace(TASK, state="failed"))


def test_only_mirrored_outputs_are_copies() -> None:
    files = [
        {"role": "video", "url": "v"},
        {"role": "image", "url": "i"},
        {"role": "audio", "url": "a"},
        {"role": "poster", "url": "p"},
    ]
    assert copied_outputs({"status": "mirrored", "files": files}) == ["v", "i", "a"]
    assert copied_outputs({"status": "failed", "files": files}) == []
    assert copied_outputs(None) == []


def test_a_create_body_becomes_a_submit_of_the_routes_kind() -> None:
    assert relay_payload("image_to_video", {"promptImage": "u"}) == {
        "promptImage": "u",
        "kind": "image_to_video",
    }
    assert relay_payload("image_to_video", [1]) == [1]


def test_the_organization_counts_todays_tasks_and_credits_by_model() -> None:
    tasks = [
        replace(TASK, request={"model": "gen4.5"}, state="succeeded", point=320.0, refund=0.0),
        replace(TASK, request={"model": "gen4.5"}, state="failed", point=320.0, refund=320.0),
        replace(TASK, kind="sound_effect", request={"model": "seed_audio"}, point=None),
        replace(TASK, kind="generate", request={}),
    ]
    org = organization(tasks, 4)
    assert org["usage"]["models"] == {
        "gen4.5": {"dailyGenerations": 2, "creditsSpent": 320},
        "seed_audio": {"dailyGenerations": 1, "creditsSpent": 0},
        "generate": {"dailyGenerations": 1, "creditsSpent": 0},
    }
    limits = {"maxConcurrentGenerations": 4, "maxDailyGenerations": None}
    assert org["tier"]["models"] == dict.fromkeys(["gen4.5", "seed_audio", "generate"], limits)
    assert (org["creditBalance"], org["tier"]["maxMonthlyCreditSpend"]) == (0, 0)
    uncapped = organization(tasks[:1], 0)["tier"]["models"]["gen4.5"]
    assert uncapped["maxConcurrentGenerations"] is None
