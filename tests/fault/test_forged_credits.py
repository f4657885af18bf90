"""Credits come from CometAPI's authenticated answer, never from a callback's body.

Anyone holding a callback URL can post `point` and `refund` figures of their choice; a
callback with an unknown status claims no state, so CometAPI's answer "confirms" it. These
tests forge such figures (absurd, negative, not finite) on running and on finished tasks,
with and without `callbacks.trust_body`, and check the tasks, the metrics and the delivered
documents: every figure is CometAPI's, and the forged bodies are still kept, raw, in history.
"""

from __future__ import annotations

import json
import math
from contextlib import closing
from typing import Any

import httpx
import pytest

from tests.conftest import MakeRelay, webhook
from tests.fault.conftest import SimFactory
from tests.fault.support import Figures, backend_of
from tests.harness import Relay, Simulator, Sink, metric, settled, video2video, wait_for

pytestmark = pytest.mark.fault

EVIL = "https://attacker.invalid/evil.mp4"
# (point, refund) as a forger writes them: strings as CometAPI's callback spells numbers,
# and JSON numbers.
FORGED: list[tuple[Any, Any]] = [
    ("-1e300", "1e300"),
    ("NaN", "Infinity"),
    ("-320", "-1"),
    ("1e400", "0"),
    (1e300, 5e299),
]


def _forge(relay_task: dict[str, Any], point: Any, refund: Any, status: str, msg: str) -> None:
    body: dict[str, Any] = {
        "task_id": relay_task["upstream_task_id"],
        "status": status,
        "point": point,
        "refund": refund,
        "msg": msg,  # another body each time: an exact repeat would not be stored again
    }
    if status == "3":
        body["video_url"] = EVIL
    answer = httpx.post(relay_task["callback_url"], json=body, timeout=10)
    assert answer.status_code == 200, answer.text


def _forged_events(task: dict[str, Any], status: str) -> list[dict[str, Any]]:
    return [
        e for e in task["events"] if e["source"] == "callback" and e["upstream_status"] == status
    ]


def _credits(relay: Relay) -> tuple[float, float]:
    text = relay.scrape()
    return (
        metric(text, "relay_credits", kind="charged"),
        metric(text, "relay_credits", kind="refunded"),
    )


def _check_sane(relay: Relay, ids: list[str], priced: dict[str, float]) -> int:
    """Every task's figures are CometAPI's (or not known yet): the count of forged ones."""
    forged = 0
    for task_id in ids:
        task = relay.task(task_id)
        expected = priced[task["upstream_task_id"]]
        forged += task["point"] not in (None, expected)
        forged += task["refund"] not in (None, 0.0)
    charged, refunded = _credits(relay)
    assert math.isfinite(charged) and 0 <= charged <= sum(priced.values())
    assert refunded == 0.0
    return forged


@pytest.mark.parametrize("trust_body", [False, True], ids=["corroborated", "trust_body"])
def test_forged_credits_are_never_stored_counted_or_delivered(
    make_relay: MakeRelay,
    make_sim: SimFactory,
    sink: Sink,
    figures: Figures,
    storage_url: str,
    trust_body: bool,
) -> None:
    # Tasks that run at once and for a while: the forged claim is settled, or applied,
    # while CometAPI still answers `running`, which carries no credits of its own.
    upstream = make_sim(seed=13, queued_seconds=0, running_seconds=4, not_exist_seconds=0)
    relay = make_relay(
        [webhook(sink)],
        upstream={"base_url": upstream.url},
        callbacks={"trust_body": trust_body},
    )
    # Under trust_body a claimed success is applied at once: the forger's way in there.
    status = "3" if trust_body else "7"
    submitted = [relay.submit(**video2video()).json() for _ in FORGED]
    ids = [t["id"] for t in submitted]
    # Each sent by the submit queue (the submit answers before that), so CometAPI knows its
    # price before the forgeries are checked against it.
    for task_id in ids:
        relay.wait_task(task_id, lambda t: t["upstream_task_id"] is not None)
    priced = {t["task_id"]: float(t["point"]) for t in upstream.tasks()}
    for task, (point, refund) in zip(submitted, FORGED, strict=True):
        _forge(task, point, refund, status, "while running")

    def judged(task_id: str) -> bool:
        events = _forged_events(relay.task(task_id), status)
        return bool(events) and (trust_body or events[0]["verdict"] != "pending")

    wait_for(lambda: all(judged(i) for i in ids))
    forged_while_running = _check_sane(relay, ids, priced)

    # CometAPI's own figures arrive with its final answer.
    def priced_by_cometapi(task: dict[str, Any]) -> bool:
        return settled(task) and task["point"] is not None

    for task_id in ids:
        relay.wait_task(task_id, priced_by_cometapi)
    # The same figures forged again on the finished tasks (judged at once, without a poll).
    for task, (point, refund) in zip(submitted, FORGED, strict=True):
        _forge(task, point, refund, "7", "once finished")
    done = [relay.task(i) for i in ids]
    assert all(len(_forged_events(t, "7")) == 1 + (not trust_body) for t in done)
    assert {(t["point"], t["refund"]) for t in done} <= {(p, 0.0) for p in priced.values()}
    assert all(t["point"] == priced[t["upstream_task_id"]] for t in done)
    assert _credits(relay) == (sum(priced.values()), 0.0)

    # The forged bodies are kept as they came, for an operator to read.
    with closing(relay.console()) as console:
        page = console.get(f"/console/tasks/{ids[0]}").text
    assert "-1e300" in page
    # Nothing forged reached a downstream either.
    documents = [json.loads(h["body"])["data"] for h in sink.received()]
    assert documents
    assert all(d["point"] in (None, priced[d["upstream_task_id"]]) for d in documents)
    assert all(d["refund"] in (None, 0.0) for d in documents)

    posted = 2 * len(FORGED)
    figures.record(
        "forged_credits",
        backend=backend_of(storage_url),
        mode="trust_body" if trust_body else "corroborated",
        forged_bodies=posted,
        stored=forged_while_running,
        charged=sum(priced.values()),
        deliveries_checked=len(documents),
    )
    assert forged_while_running == 0


def test_a_figure_from_cometapi_that_cannot_be_a_price_is_refused_and_logged(
    make_relay: MakeRelay, sim: Simulator, figures: Figures, storage_url: str
) -> None:
    relay = make_relay()
    figures_sent = ["1e300", "-320", "NaN", "Infinity"]
    ids = []
    for figure in figures_sent:
        sim.faults(feed_point=figure)
        task = relay.submit(**video2video()).json()
        relay.wait_task(task["id"], settled)
        ids.append(task["id"])
    done = [relay.task(i) for i in ids]
    assert [(t["state"], t["point"], t["refund"]) for t in done] == [("succeeded", None, 0.0)] * 4
    assert _credits(relay) == (0.0, 0.0)
    refused = [
        (line["task_id"], line["point"])
        for line in relay.log_lines()
        if line.get("event") == "poll.credits_refused"
    ]
    assert {task_id for task_id, _ in refused} == set(ids)
    assert {point for _, point in refused} == {"1e+300", "-320.0", "nan", "inf"}
    figures.record(
        "insane_credits_from_cometapi",
        backend=backend_of(storage_url),
        figures_sent=len(figures_sent),
        stored=sum(t["point"] is not None for t in done),
        warnings=len(refused),
    )
