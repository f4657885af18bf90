"""Google's Pub/Sub emulator stopped mid-run and started again: each event is retried until
Pub/Sub takes it, nothing is lost, and the webhook beside it is not held up meanwhile.

The emulator is one of the test's own (tests/pubsub.py), reached through a TCP proxy of the
tests' (tests/fault/proxy.py) that forwards all along but for one moment: while the restarted
emulator, which keeps nothing, is given its topic and subscription again, so that no event
lands on a topic that no subscription reads yet.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest

from tests.conftest import MakeRelay, webhook
from tests.fault.proxy import Proxy
from tests.fault.support import Figures
from tests.harness import Sink, image_to_video, terminal, wait_for
from tests.pubsub import Emulator, PubsubTopic

pytestmark = pytest.mark.fault

TASKS = 6
# Long enough to outlast the emulator's restart (Java's start, on a loaded machine).
SCHEDULE = [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0]


def test_pubsub_stopped_mid_run_loses_nothing_and_holds_no_one_up(
    make_relay: MakeRelay, sink: Sink, figures: Figures, storage_url: str
) -> None:
    if not storage_url.startswith("sqlite"):
        pytest.skip("the publisher is in-process and the same on both backends: once is enough")
    emulator = Emulator()
    proxy = Proxy(emulator.port)
    try:
        topic = PubsubTopic(emulator)
        downstream = {
            "name": "pubsub-cut",
            "format": "pubsub",
            "url": topic.url,
            "timeout": 2.0,
            "breaker_cool_off_seconds": 1.0,  # what is measured is the retry, not the pause
        }
        relay = make_relay(
            [webhook(sink), downstream],
            env={"PUBSUB_EMULATOR_HOST": f"127.0.0.1:{proxy.port}"},
            delivery={"retry_schedule": SCHEDULE, "jitter": 0.1},
        )
        first = relay.submitted(**image_to_video())
        relay.wait_task(first["id"], terminal)
        wait_for(lambda: topic.messages() or None)  # the connection is up and used

        emulator.stop()
        stopped_at = time.monotonic()
        tasks = [relay.submitted(**image_to_video()) for _ in range(TASKS)]
        wait_for(lambda: len(sink.accepted("/hook")) == TASKS + 1 or None)
        webhooks_done = time.monotonic() - stopped_at
        wait_for(lambda: _retries(relay) or None)
        proxy.cut(refuse=True)
        emulator.start()
        topic.make()
        proxy.restore()
        restored_at = time.monotonic()

        def all_delivered() -> list[dict[str, Any]] | None:
            rows: list[dict[str, Any]] = relay.api.get(
                "/v1/deliveries", params={"downstream": "pubsub-cut", "limit": 100}
            ).json()["deliveries"]
            done = len(rows) == TASKS + 1 and all(d["state"] == "succeeded" for d in rows)
            return rows if done else None

        rows = wait_for(all_delivered, timeout=120)
        recovered = time.monotonic() - restored_at
        failed = _retries(relay)
        seen = Counter(m.attributes["webhook-id"] for m in topic.messages())
        assert set(seen) == {d["id"] for d in rows}, "an event counted delivered is missing"
        by_task = {m.ordering_key for m in topic.messages()}
        assert by_task == {t["id"] for t in [first, *tasks]}
        assert {t["id"] for t in tasks} <= {
            json.loads(h["body"])["data"]["task_id"] for h in sink.accepted("/hook")
        }
    finally:
        proxy.close()
        emulator.close()
    figures.record(
        "pubsub_outage",
        events=TASKS + 1,
        failed_attempts_during_outage=failed,
        webhook_all_delivered_during_outage_s=round(webhooks_done, 2),
        all_in_pubsub_after_restart_s=round(recovered, 2),
        lost=0,
        repeats=sum(seen.values()) - len(seen),
    )


def _retries(relay: Any) -> int:
    """The attempts at the Pub/Sub downstream that failed, to be retried."""
    rows = relay.api.get("/v1/deliveries", params={"downstream": "pubsub-cut"}).json()
    return sum(
        1
        for task_id in {d["task_id"] for d in rows["deliveries"]}
        for a in relay.task(task_id)["attempts"]
        if a["downstream"] == "pubsub-cut" and a["outcome"] == "retry"
    )
