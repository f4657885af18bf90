"""Runway's official Python SDK (`runwayml`) as a real client of the simulator's official format.

Strict response validation makes the SDK refuse any answer its models do not describe. Its
`wait_for_task_output()` sleeps a fixed ~6 s (+-1.5 s jitter) before every poll and takes no
interval argument, so only one test waits through it; the others poll with `tasks.retrieve`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import TypeAdapter
from runwayml import BadRequestError, DefaultHttpxClient, NotFoundError, RunwayML
from runwayml.types import ImageToVideoCreateResponse, TaskRetrieveResponse

from receiver.devtools.simulator import Simulator, SimulatorConfig
from tests.harness import API_KEY, WAIT_SECONDS, wait_for
from tests.harness import Simulator as SimControl


def sdk_client(base_url: str, api_key: str) -> RunwayML:
    """The SDK as its users call it, strict and with no retries, at `base_url`/runwayml."""
    return RunwayML(
        api_key=api_key,
        base_url=f"{base_url}/runwayml",  # never the SDK's default host
        max_retries=0,
        timeout=WAIT_SECONDS,
        # trust_env=False: no proxy from the environment between the SDK and loopback.
        http_client=DefaultHttpxClient(trust_env=False),
        _strict_response_validation=True,
    )


@pytest.fixture
def client(sim: SimControl) -> Iterator[RunwayML]:
    with sdk_client(sim.url, API_KEY) as client:
        yield client


def create_i2v(client: RunwayML, **extra: Any) -> Any:
    params: dict[str, Any] = {
        "model": "gen4_turbo",
        "prompt_image": "https://example.invalid/cat.jpg",
        "prompt_text": "a calm camera move",
        "ratio": "1280:720",
        "duration": 5,
        "seed": 7,
        **extra,
    }
    return client.image_to_video.create(**params)


def retrieve(client: RunwayML, task_id: str) -> Any:
    """The task, or None while the simulator still answers task_not_exist for it."""
    try:
        return client.tasks.retrieve(task_id)
    except NotFoundError:
        return None


def test_every_task_answer_validates_under_the_sdk_models() -> None:
    sim = Simulator(SimulatorConfig(seed=5))
    adapter: TypeAdapter[Any] = TypeAdapter(TaskRetrieveResponse)
    tasks = {
        status: sim.create_task("image_to_video", "a cat", "http://127.0.0.1:9")
        for status in range(7)
    }
    tasks[0].throttled, tasks[1].throttled = True, False
    tasks[5].failure = ("The source could not be decoded", "INPUT_PREPROCESSING.INTERNAL")
    for task, seconds in zip(tasks.values(), (0, 0, 0.5, 0.5, 5, 5, 0), strict=True):
        task.created_mono = time.monotonic() - seconds
    sim.cancel(tasks[3].task_id)  # cancelled while running
    sim.cancel(tasks[6].task_id)  # cancelled while pending
    seen = [adapter.validate_python(sim.official(task)).status for task in tasks.values()]
    assert seen == [
        "THROTTLED",
        "PENDING",
        "RUNNING",
        "CANCELLED",
        "SUCCEEDED",
        "FAILED",
        "CANCELLED",
    ]
    created = ImageToVideoCreateResponse.model_validate(sim.created(tasks[0]))
    assert created.id == tasks[0].task_id and created.estimated_cost.credits > 0


def test_sdk_runs_a_task_to_success_then_deletes_it(client: RunwayML) -> None:
    task = create_i2v(client)
    assert task.estimated_cost.credits > 0
    done = task.wait_for_task_output(timeout=30)
    assert done.status == "SUCCEEDED" and done.output[0].endswith(".mp4")
    assert done.cost.credits == int(task.estimated_cost.credits)
    assert client.tasks.retrieve(task.id).status == "SUCCEEDED"
    assert client.tasks.delete(task.id) is None
    with pytest.raises(NotFoundError):
        client.tasks.retrieve(task.id)


def test_sdk_cancels_a_running_task(client: RunwayML) -> None:
    task = create_i2v(client)
    running = wait_for(
        lambda: (t := retrieve(client, task.id)) is not None and t.status == "RUNNING" and t,
        timeout=5,
        interval=0.02,
    )
    assert 0 <= running.progress <= 1 and running.estimated_cost.credits > 0
    client.tasks.delete(task.id)
    cancelled = client.tasks.retrieve(task.id)
    assert cancelled.status == "CANCELLED"
    assert cancelled.cost.credits == int(running.estimated_cost.credits)  # ran: not refunded


def test_sdk_cancels_a_video_to_video_task(client: RunwayML) -> None:
    task = client.video_to_video.create(
        model="aleph2",  # the SDK's own first model (CometAPI still takes gen4_aleph)
        video_uri="https://example.invalid/in.mp4",
        prompt_text="make it cinematic",
        ratio="1280:720",
        seed=7,
    )
    client.tasks.delete(task.id)
    cancelled = wait_for(lambda: retrieve(client, task.id))
    assert cancelled.status == "CANCELLED"


def test_sdk_gets_bad_request_for_out_of_range_values(client: RunwayML, sim: SimControl) -> None:
    with pytest.raises(BadRequestError):
        create_i2v(client, duration=7)
    with pytest.raises(BadRequestError):
        create_i2v(client, seed=1_000_000_000)
    with pytest.raises(BadRequestError):
        client.video_to_video.create(
            model="gen4_aleph",
            video_uri="https://example.invalid/in.mp4",
            prompt_text="make it cinematic",
            ratio="1280x720",
        )
    assert sim.tasks() == []
