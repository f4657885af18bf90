"""Requests that are cheap to send must stay cheap to answer: live streams share one reader
of the change feed and are capped, /metrics can be closed and counts in the background, and
a text search reads a bounded window of tasks."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from typing import Any

import httpx

from tests.conftest import MakeRelay
from tests.harness import ADMIN_TOKEN, Relay, image_to_video, metric, terminal, wait_for

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class Stream:
    """One live stream read in a thread, its events kept."""

    def __init__(self, relay: Relay, source: str = "127.0.0.1") -> None:
        transport = httpx.HTTPTransport(local_address=source)
        self.client = httpx.Client(transport=transport, timeout=httpx.Timeout(5, read=None))
        self.events: list[str] = []
        self.opened = threading.Event()
        self.status = 0
        self._thread = threading.Thread(target=self._read, args=(relay.url,), daemon=True)
        self._thread.start()
        self.opened.wait(10)

    def _read(self, url: str) -> None:
        try:
            with self.client.stream("GET", f"{url}/v1/stream", headers=AUTH) as response:
                self.status = response.status_code
                self.opened.set()
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        self.events.append(line.removeprefix("event: "))
        except httpx.HTTPError:
            pass  # closed by the test
        finally:
            self.opened.set()

    def close(self) -> None:
        self.client.close()


def refused(relay: Relay, source: str = "127.0.0.1") -> dict[str, Any]:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=5) as client:
        answer = client.get(f"{relay.url}/v1/stream", headers=AUTH)
    assert answer.status_code == 503
    body: dict[str, Any] = answer.json()
    return body


def test_streams_share_one_reader_and_are_capped_per_client_and_process(
    make_relay: MakeRelay,
) -> None:
    relay = make_relay(server={"max_streams": 3, "max_streams_per_client": 2})
    with ExitStack() as streams:
        first = Stream(relay)
        streams.callback(first.close)
        second = Stream(relay)
        streams.callback(second.close)
        assert (first.status, second.status) == (200, 200)
        over_client = refused(relay)
        assert over_client["error"] == "overloaded"
        assert "max_streams_per_client" in over_client["detail"]
        other = Stream(relay, source="127.0.0.2")  # another client still has room
        streams.callback(other.close)
        assert other.status == 200
        assert "max_streams)" in refused(relay, source="127.0.0.3")["detail"]
        assert metric(relay.scrape(), "relay_streams_open") == 3
        task = relay.submitted(**image_to_video())
        relay.wait_task(task["id"], terminal)
        # Every open stream sees the task's changes, from the one reader.
        for stream in (first, second, other):
            wait_for(lambda s=stream: "task" in s.events or None)
    # Closed: their places are free again.
    wait_for(lambda: metric(relay.scrape(), "relay_streams_open") == 0 or None)
    reopened = Stream(relay)
    assert reopened.status == 200
    reopened.close()


def test_metrics_behind_a_token_on_both_ports_and_counted_in_the_background(
    make_relay: MakeRelay,
) -> None:
    relay = make_relay(
        server={
            "metrics_token_env": "METRICS_TOKEN",
            "metrics_public": True,  # the opt-in: the public port serves /metrics too
            "metrics_count_seconds": 0.3,
        },
        env={"METRICS_TOKEN": "metrics-" + "0123456789abcdef"},
    )
    token = {"Authorization": "Bearer metrics-0123456789abcdef"}
    wrong = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    for port in (relay.anon, relay.metrics):
        assert port.get("/metrics").status_code == 401
        assert port.get("/metrics", headers=wrong).status_code == 401
        assert port.get("/metrics", headers=token).status_code == 200
    task = relay.submitted(**image_to_video())
    relay.wait_task(task["id"], terminal)

    def counted() -> float | None:
        text = relay.anon.get("/metrics", headers=token).text
        return metric(text, "relay_tasks", state="succeeded") or None

    assert wait_for(counted) == 1  # the background count caught up, without a scrape's


def test_a_search_reads_a_window_and_says_where_to_go_on(make_relay: MakeRelay) -> None:
    relay = make_relay(server={"search_window": 3})
    oldest = relay.submitted(**image_to_video(promptText="a 50% zoom on the harbour"))
    for n in range(4):
        relay.submitted(**image_to_video(promptText=f"plain prompt {n}"))

    def page(**params: Any) -> dict[str, Any]:
        answer: dict[str, Any] = relay.api.get("/v1/tasks", params=params).json()
        return answer

    first = page(q="harbour", limit=10)
    assert first["tasks"] == [] and first["search_window_reached"] is True
    second = page(q="harbour", limit=10, before=first["next"])
    assert [t["id"] for t in second["tasks"]] == [oldest["id"]]
    assert second["next"] is None and "search_window_reached" not in second
    # `%` and `_` are the characters themselves, not wildcards.
    below = first["next"]
    assert [t["id"] for t in page(q="%", before=below)["tasks"]] == [oldest["id"]]
    assert page(q="zoom_", before=below)["tasks"] == []  # as a wildcard, "zoom " would match
    assert [t["id"] for t in page(q="zoom ", before=below)["tasks"]] == [oldest["id"]]
