"""What the apps stage (bench/stages/apps.py) does to one relay, each call timed: one app's
calls (its list, its portal page, a submit, a create, its event to its endpoints), a probe of
the event loop, tasks of many apps ending at once.

The simulator's tasks run until the benchmark ends them (bench/servers.py `forever`); it then
sends their callbacks, as CometAPI would have, all at the instant it chooses, and the relay
corroborates each with its poll, as in production.
"""

from __future__ import annotations

import asyncio
import http.client
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
from common import ADMIN_TOKEN
from harness import wait_until

SUBMIT = {"kind": "video2video", "video": "https://example.invalid/in.mp4"}
LONG = 600.0  # seconds a call may take on the old code at 10,000 apps (the admin's list: 56 s)


def median_ms(values: list[float]) -> float:
    return round(1000 * statistics.median(values), 2)


def timed(call: Callable[[], httpx.Response], expected: int = 200) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    answer = call()
    took = time.perf_counter() - started
    if answer.status_code != expected:
        raise RuntimeError(f"{answer.request.url} answered {answer.status_code}: {answer.text}")
    return took, answer


@dataclass
class Relay:
    """One running relay, its simulator and its sink, as the stage's calls see them."""

    url: str
    sim_url: str
    sink_url: str
    name: str  # in its tasks' prompts: the simulator serves one relay after another
    admin: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.admin = self.client(ADMIN_TOKEN)

    def client(self, token: str) -> httpx.Client:
        auth = {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=self.url, headers=auth, timeout=LONG)

    def sink(self, path: str = "") -> dict[str, Any]:
        found: dict[str, Any] = httpx.get(f"{self.sink_url}/{path}", timeout=30).json()
        return found

    def portal(self, app: httpx.Client) -> httpx.Client:
        """A browser with the app's portal session, opened from a link its key made."""
        _, made = timed(lambda: app.post("/v1/portal-links", json={}), 201)
        browser = httpx.Client(base_url=self.url, timeout=LONG, follow_redirects=False)
        opened = browser.get(made.json()["url"].removeprefix(self.url))
        if opened.status_code >= 400:
            raise RuntimeError(f"the portal link answered {opened.status_code}")
        return browser

    def submit(self, app: httpx.Client, tag: str) -> tuple[float, str]:
        """A task of the app's key: the answer's time, and the task's id."""
        body = {**SUBMIT, "prompt": f"{self.name} {tag}"}
        took, answer = timed(lambda: app.post("/v1/tasks", json=body), 202)
        return took, str(answer.json()["id"])

    def sent(self, tasks: dict[str, str]) -> list[str]:
        """The CometAPI ids of the tasks (tag: id), once the simulator has each and the
        relay has bound its id to the task."""

        def listed() -> dict[str, Any]:
            tasks = httpx.get(f"{self.sim_url}/_sim/tasks", timeout=60).json()
            mine = f"{self.name} "
            return {t["prompt"][len(mine) :]: t for t in tasks if t["prompt"].startswith(mine)}

        found = wait_until(listed, lambda got: tasks.keys() <= got.keys(), LONG)
        for tag, task_id in tasks.items():
            task = wait_until(partial(self.task, task_id), _bound, LONG)
            if not _bound(task) or tag not in found:
                raise RuntimeError(f"task {task_id} was not sent to the simulator: {task}")
        return [str(found[tag]["task_id"]) for tag in tasks]

    def task(self, task_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.admin.get(f"/v1/tasks/{task_id}").json()
        return found

    def end(self, upstream_ids: list[str]) -> float:
        """The tasks ended at CometAPI, then their callbacks sent all at once: when the first
        went (epoch seconds)."""
        ended = httpx.post(f"{self.sim_url}/_bench/end", json={"task_ids": upstream_ids}).json()

        async def send() -> float:
            limits = httpx.Limits(max_connections=64)
            async with httpx.AsyncClient(timeout=LONG, limits=limits) as client:
                started = time.time()
                answers = await asyncio.gather(*(_post(client, e["url"], e["body"]) for e in ended))
            refused = [a.status_code for a in answers if a.status_code != 200]
            if refused:
                raise RuntimeError(f"callbacks refused: {refused[:5]}")
            return started

        return asyncio.run(send())

    def delivered(self, count: int, stuck: float = 120.0) -> dict[str, Any]:
        """The sink once it has `count` deliveries since its reset; an error when none came
        for `stuck` seconds."""
        got, moved = self.sink(), time.monotonic()
        while got["total"] < count:
            time.sleep(0.1)
            now = self.sink()
            if now["total"] > got["total"]:
                moved = time.monotonic()
            elif time.monotonic() - moved > stuck:
                raise RuntimeError(f"{now['total']} of {count} deliveries; none for {stuck:g} s")
            got = now
        return got


async def _post(client: httpx.AsyncClient, url: str, body: Any) -> httpx.Response:
    """A callback, sent again when the connection fails before its answer (a keep-alive
    connection the busy relay closed as it was reused), as CometAPI retries; the relay
    keeps one callback once."""
    for _ in range(3):
        try:
            return await client.post(url, json=body)
        except httpx.TransportError:
            await asyncio.sleep(0.1)
    return await client.post(url, json=body)


def _bound(task: dict[str, Any]) -> bool:
    return task.get("upstream_task_id") is not None


class Probe:
    """`GET /livez` every few ms on a connection of its own, each answer's time kept: the
    longest while something happens is how long the relay's event loop stalled."""

    def __init__(self, port: int, every: float = 0.004) -> None:
        self.port, self.every = port, every
        self.times: list[tuple[float, float]] = []  # (sent, seconds to the answer)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=LONG)
        while not self._stop.is_set():
            sent = time.perf_counter()
            connection.request("GET", "/livez")
            connection.getresponse().read()
            self.times.append((sent, time.perf_counter() - sent))
            time.sleep(self.every)
        connection.close()

    def worst(self, since: float, until: float) -> float:
        """The longest answer of a probe sent in [since, until], seconds."""
        return max((took for sent, took in self.times if since <= sent <= until), default=0.0)
