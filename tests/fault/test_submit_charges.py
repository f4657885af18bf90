"""The submit queue charges what CometAPI does with one app's requests to that app alone.

A proxy of the tests' own stands between the relay and the simulator and answers the
create calls whose prompt names it: "HANG" is never answered (as a CometAPI stuck fetching a
task's image), "BUSY" is answered 503 with a Retry-After of ten minutes. Everything else
goes through. App A sends those; app B's plain task must go at once all the same.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from receiver.devtools.localserver import BackgroundServer
from tests.conftest import MakeRelay
from tests.harness import Relay, Simulator, image_to_video, wait_for

# The queue's claims are the store's transactions.
pytestmark = [pytest.mark.fault, pytest.mark.every_backend]

IN_FLIGHT = 8  # sends one relay makes at once (receiver/tasks/submitter.py)
BUSY_FOR = 600
_HOP = ("host", "content-length", "connection", "transfer-encoding")


class Front:
    """The proxy: `held` counts the HANG calls it holds unanswered; `release()` answers
    them 503, so that the relay's sends end."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.held = 0
        self.released = threading.Event()
        self.server = BackgroundServer(
            Starlette(routes=[Route("/{path:path}", self._pass, methods=["GET", "POST"])])
        )
        self.url = self.server.url

    async def _pass(self, request: Request) -> Response:
        body = await request.body()
        if request.method == "POST" and b"HANG" in body:
            self.held += 1
            try:
                while not self.released.is_set():
                    await asyncio.sleep(0.05)
            finally:
                self.held -= 1
            return JSONResponse({"error": "released"}, status_code=503)
        if request.method == "POST" and b"BUSY" in body:
            headers = {"Retry-After": str(BUSY_FOR)}
            return JSONResponse({"error": "busy"}, status_code=503, headers=headers)
        headers = {k: v for k, v in request.headers.items() if k not in _HOP}
        async with httpx.AsyncClient(base_url=self.sim.url, timeout=30) as client:
            answer = await client.request(
                request.method, request.url.path, content=body, headers=headers
            )
        kept = {"content-type": answer.headers.get("content-type", "application/json")}
        return Response(answer.content, status_code=answer.status_code, headers=kept)

    def release(self) -> None:
        self.released.set()


@pytest.fixture
def front() -> Iterator[Front]:
    sim = Simulator.serve(seed=31)
    proxy = Front(sim)
    proxy.server.start()
    yield proxy
    proxy.release()
    proxy.server.stop()
    sim.close()


def _app(relay: Relay, name: str) -> httpx.Client:
    """A client with a key of an app of its own."""
    made = relay.api.post("/v1/keys", json={"name": name, "scopes": ["tasks:submit", "tasks:read"]})
    assert made.status_code == 201, made.text
    headers = {"Authorization": f"Bearer {made.json()['key']}"}
    return httpx.Client(base_url=relay.url, timeout=15, headers=headers)


def _sent(task: dict[str, object]) -> bool:
    return task["submission"] == "sent"


def test_one_apps_sends_cometapi_never_answers_hold_half_the_sends_not_another_apps_task(
    make_relay: MakeRelay, front: Front
) -> None:
    # CometAPI's answer is waited for long: app A's sends hold on through the test.
    relay = make_relay(
        upstream={"base_url": front.url, "timeout_seconds": 60},
        polling={"lease_seconds": 120},  # above the upstream timeout, as start-up requires
    )
    hostile, honest = _app(relay, "hostile"), _app(relay, "honest")
    hanging = []
    for i in range(IN_FLIGHT + 2):
        made = hostile.post("/v1/tasks", json=image_to_video(promptText=f"HANG {i}"))
        assert made.status_code == 202, made.text
        hanging.append(made.json()["id"])
    wait_for(lambda: front.held >= IN_FLIGHT // 2)
    task_id = honest.post("/v1/tasks", json=image_to_video(promptText="plain")).json()["id"]
    task = relay.wait_task(task_id, _sent, timeout=120)
    assert [s["outcome"] for s in task["submits"]] == ["accepted"]
    # App B's task did not wait for one of app A's sends to time out: none has ended yet,
    # and they never took more than half of the relay's sends.
    assert not any(relay.task(t)["submits"] for t in hanging)
    assert front.held == IN_FLIGHT // 2
    front.release()


def test_a_retry_after_for_one_apps_task_holds_back_that_task_not_another_apps(
    make_relay: MakeRelay, front: Front
) -> None:
    relay = make_relay(upstream={"base_url": front.url})
    hostile, honest = _app(relay, "hostile"), _app(relay, "honest")
    busy = hostile.post("/v1/tasks", json=image_to_video(promptText="BUSY")).json()["id"]
    [refused] = relay.wait_task(busy, lambda t: len(t["submits"]) == 1)["submits"]
    assert (refused["status"], refused["outcome"]) == (503, "retry")
    assert refused["retry_at"] - refused["finished_at"] >= BUSY_FOR - 0.01  # its own wait
    task_id = honest.post("/v1/tasks", json=image_to_video(promptText="plain")).json()["id"]
    task = relay.wait_task(task_id, _sent, timeout=120)
    assert [s["outcome"] for s in task["submits"]] == ["accepted"]
    assert task["submits"][0]["started_at"] < refused["retry_at"]
    assert relay.task(busy)["submission"] == "waiting"
