"""A callback asks CometAPI before it is answered, and records the claim, CometAPI's answer
and the deliveries in one transaction (issue 81). With CometAPI slow or down, each callback
is still answered 200 once `callbacks.ask_within_seconds` passes, its claim kept alone to be
settled by the poll after it; and once CometAPI answers again nothing is lost: every task
ends as CometAPI says, every claim is judged, every delivery made once."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import MakeRelay, webhook
from tests.fault.support import Figures, backend_of, size
from tests.harness import Relay, Simulator, Sink, settled, video2video, wait_for

pytestmark = pytest.mark.fault

TASKS = size("FAULT_ASKED_TASKS", 4)
ASK_WITHIN = 0.5  # seconds a callback's request waits for CometAPI
# CometAPI slow: each poll answers this much later, well past ASK_WITHIN (the relay's own
# upstream timeout, longer, lets the poll after the callback finish on its own).
SLOW = 3.0


def _terminal_callbacks(sim: Simulator) -> list[dict[str, Any]]:
    return [c for c in sim.callbacks() if c["kind"] == "normal"]


def _claims(task: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in task["events"] if e["source"] == "callback"]


def _finish(relay: Relay, sim: Simulator, sink: Sink, task_ids: list[str]) -> list[dict[str, Any]]:
    """Every task ended as CometAPI says, its claim judged, one delivery each."""
    tasks = [
        relay.wait_task(t, lambda t: settled(t) and _claims(t)[-1]["verdict"] != "pending")
        for t in task_ids
    ]
    assert {t["state"] for t in tasks} == {"succeeded"}
    assert all(c["verdict"] == "confirmed" for t in tasks for c in _claims(t))
    applied = {e["source"] for t in tasks for e in t["events"] if e["applied"]}
    assert applied == {"submit", "poll"}  # only CometAPI's answers moved a task
    wait_for(lambda: len(sink.accepted()) == len(task_ids))
    delivered = sorted(h["json"]["data"]["task_id"] for h in sink.accepted())
    assert delivered == sorted(task_ids)
    return tasks


def test_a_callback_is_settled_in_its_own_transaction_when_cometapi_answers(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, figures: Figures, storage_url: str
) -> None:
    relay = make_relay([webhook(sink)], callbacks={"ask_within_seconds": ASK_WITHIN})
    task_ids = [relay.submit(**video2video()).json()["id"] for _ in range(TASKS)]
    tasks = _finish(relay, sim, sink, task_ids)
    # Claim and answer in one transaction: the claim is judged the moment it is kept.
    same = [c["verdict_at"] == c["received_at"] for t in tasks for c in _claims(t)]
    assert all(same), [_claims(t) for t in tasks]
    assert all(c["status"] == 200 for c in _terminal_callbacks(sim))
    figures.record(
        "callback_settled_at_once",
        backend=backend_of(storage_url),
        tasks=len(tasks),
        claims_settled_in_their_transaction=sum(same),
    )


@pytest.mark.every_backend
@pytest.mark.parametrize(
    "fault", [{"poll_delay_seconds": SLOW}, {"poll_status": 503}], ids=["slow", "down"]
)
def test_callbacks_are_answered_and_nothing_lost_while_cometapi_is_slow_or_down(
    make_relay: MakeRelay,
    sim: Simulator,
    sink: Sink,
    figures: Figures,
    storage_url: str,
    fault: dict[str, Any],
) -> None:
    relay = make_relay(
        [webhook(sink)],
        callbacks={"ask_within_seconds": ASK_WITHIN},
        upstream={"timeout_seconds": 2 * SLOW},
        polling={"poll_lease_seconds": 8 * SLOW},
    )
    sim.faults(**fault)
    task_ids = [relay.submit(**video2video()).json()["id"] for _ in range(TASKS)]
    wait_for(lambda: len(_terminal_callbacks(sim)) == TASKS)
    sent = _terminal_callbacks(sim)
    # Answered, not timed out nor refused: each kept as a claim while CometAPI was not there.
    assert [c["status"] for c in sent] == [200] * TASKS, sent
    kept = [relay.task(t) for t in task_ids]
    assert all(len(_claims(t)) == 1 for t in kept)
    slow_lines = [x for x in relay.log_lines() if x.get("event") == "callback.answer_slow"]
    failed_asks = [x for x in relay.log_lines() if x.get("event") == "poll.failed"]
    assert slow_lines or failed_asks

    sim.faults(poll_delay_seconds=0.0, poll_status=None)
    tasks = _finish(relay, sim, sink, task_ids)
    assert not [x for x in relay.log_lines() if x.get("event") == "callback.store_failed"]
    figures.record(
        "callback_answered_without_cometapi",
        backend=backend_of(storage_url),
        fault=next(iter(fault)),
        tasks=len(tasks),
        callbacks_answered_200=len(sent),
        answered_before_cometapi=len(slow_lines),
        delivered_once=len(sink.accepted()),
    )
