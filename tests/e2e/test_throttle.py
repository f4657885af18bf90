"""A downstream's `max_per_second`, shared by two replicas on one PostgreSQL schema: a
burst of held deliveries released at once reaches the sink no faster than the rate (its
own arrival times counted), none lost, and the wait shows in each delivery's next attempt
time."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.conftest import BACKENDS, MakeRelay, webhook
from tests.harness import PgSchema, Sink, image_to_video, settled, wait_for

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif("postgres" not in BACKENDS, reason="RELAY_TEST_BACKENDS excludes postgres"),
]

RATE = 3.0
TASKS = 24


@pytest.fixture
def storage_url() -> Iterator[str]:
    """Postgres only: the budget is shared by replicas, and SQLite is one process."""
    schema = PgSchema()
    yield schema.url
    schema.drop()


def _most_in(times: list[float], window: float) -> int:
    """The most arrivals in any `window` seconds."""
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_a_burst_reaches_a_throttled_downstream_at_its_rate(
    make_relay: MakeRelay, sink: Sink
) -> None:
    hook = webhook(sink, max_per_second=RATE)
    relays = [make_relay([hook]) for _ in range(2)]
    first = relays[0]
    assert first.api.post("/v1/downstreams/hook/disable").status_code == 200
    ids = []
    for i in range(TASKS):
        answer = relays[i % 2].submit(**image_to_video(promptText=f"queue=0 run=1 {i}"))
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    wait_for(lambda: all(settled(first.task(t)) for t in ids), interval=0.3)
    assert first.api.post("/v1/downstreams/hook/enable").status_code == 200

    def waiting() -> str | None:
        listed = first.api.get("/v1/deliveries", params={"downstream": "hook"}).json()
        now = time.time()
        later = [
            d["task_id"]
            for d in listed["deliveries"]
            if d["state"] == "pending" and d["next_attempt_at"] > now + 1.0
        ]
        return later[0] if later else None

    # Held back by the budget: its next attempt is later, and the console's task page says so.
    task_id = wait_for(waiting, interval=0.1)
    page = first.console().get(f"/console/tasks/{task_id}")
    assert page.status_code == 200 and ">next " in page.text
    wait_for(lambda: len(sink.accepted("/hook")) >= TASKS, interval=0.3)
    hits = sink.accepted("/hook")
    delivered = [json.loads(h["body"])["data"]["task_id"] for h in hits]
    assert sorted(delivered) == sorted(ids)  # each once, none lost
    arrivals = [h["received_at"] for h in hits]
    # The budget is drawn when deliveries are claimed and they arrive just after: in any
    # span, the rate over that span and a second more, plus a second's worth saved up.
    for span in (1.0, 4.0):
        assert _most_in(arrivals, span) <= RATE * (span + 1) + RATE
