"""One app's expressions cannot cost another app's deliveries (receiver/expressions/pool.py).
The relay runs as a process; app A asks previews (`POST /v1/downstreams/preview`) from
many threads while app B's honest filtered downstream takes its tasks' events:

- A's transform makes a 4 MB header (a string doubled twelve times with `.map`): before, the
  answer's frame, over 2 MiB, killed the process and the death was charged to the first
  request of the batch, whoever's; B's deliveries ended `filtered` "it needed more than 512
  MiB of memory". Now the evaluator bounds each answer: A's preview is a 422 saying so, and
  every one of B's is delivered.
- A holds 128 CPU-hungry previews open: before, they filled the one waiting line, B's
  evaluations were refused as an overload, counted as failed attempts (dead after a short
  schedule), and the operator was told `endpoint.failing` of B's healthy endpoint. Now each
  app waits in a line of its own, in turn; and a delivery refused as an overload (its own
  app's line full) waits and is tried again, never counted, never dead.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import MakeRelay, webhook
from tests.e2e.test_app_downstreams import _app, _made
from tests.harness import Relay, Sink, image_to_video, settled, wait_for

pytestmark = pytest.mark.fault

# Six tasks, on SQLite only (the lines are in memory, the store plays no part): the flood
# keeps both cores busy until they are delivered, and the suites beside it share them (with
# twelve, 123-153 s of a loaded CI run).
TASKS = 6
# Past what the processes hold (2 x 16) and a line (64): a line filled.
FLOOD = 128
# Reads each task's own id, so that no two deliveries' requests are the same (the relay
# keeps the answer to a request it was asked before) and each waits in the pool.
HONEST = 'event.data.task_id != ""'


def _doubled(times: int) -> str:
    text = "'" + "a" * 1000 + "'"
    for _ in range(times):
        text = f"[{text}].map(x, x + x)[0]"
    return text


# About 1.2 KB of text making a 4 MB header value (1,000 characters doubled twelve times).
OVERSIZED = '{"body": {}, "headers": {"x-a": ' + _doubled(12) + "}}"
# Each `matches` compiles its pattern: stopped at 80 ms of CPU. Each distinct (`n`), so
# that none is an answer kept from before.
HUNGRY = "[" + ", ".join(["0"] * 100) + "].exists(x, 'a'.matches('\\\\w{200}')) || "


def _hungry(n: int) -> dict[str, Any]:
    return {"type": "task.succeeded", "filter": f"{HUNGRY}{n} == 0"}


def _flood(
    client: httpx.Client, threads: int, ask: Callable[[int], dict[str, Any]], until: threading.Event
) -> tuple[list[threading.Thread], list[httpx.Response]]:
    """`threads` previews held open at once, each asked again as it is answered, until
    `until` is set; the answers kept."""
    answers: list[httpx.Response] = []

    def asking(first: int) -> None:
        n = first
        while not until.is_set():
            # A pooled connection the relay closed as it was reused: asked again.
            with contextlib.suppress(httpx.TransportError):
                answers.append(client.post("/v1/downstreams/preview", json=ask(n)))
            n += threads

    started = [threading.Thread(target=asking, args=(i,), daemon=True) for i in range(threads)]
    for thread in started:
        thread.start()
    return started, answers


def _submitted(relay: Relay, app: httpx.Client) -> str:
    """A task of the app's, on a connection of its own: while the flood holds both cores, a
    pooled connection left idle past the relay's keep-alive may be closed as it is reused."""
    answer = httpx.post(
        f"{relay.url}/v1/tasks", json=image_to_video(), headers=app.headers, timeout=120
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def _deliveries(client: httpx.Client, task_ids: set[str]) -> list[dict[str, Any]] | None:
    """B's deliveries of its tasks, once none is pending (None before)."""
    found = client.get("/v1/deliveries", params={"limit": 500}).json()["deliveries"]
    mine = [d for d in found if d["task_id"] in task_ids]
    if len(mine) < len(task_ids) or any(d["state"] == "pending" for d in mine):
        return None
    return list(mine)


def _b_delivered_beside(
    relay: Relay, sink: Sink, threads: int, ask: Callable[[int], dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[httpx.Response]]:
    """B's deliveries of TASKS tasks, ended, while A floods previews from `threads` threads
    (its answers)."""
    alpha, beta = _app(relay, "alpha"), _app(relay, "beta")
    _made(beta, name="hooks", url=f"{sink.url}/beta", events=["succeeded"], filter=HONEST)
    done = threading.Event()
    # A's previews wait behind their own: room for a busy machine.
    patient = httpx.Client(base_url=relay.url, timeout=120, headers=alpha.headers)
    flooding, answers = _flood(patient, threads, ask, done)
    try:
        wait_for(lambda: len(answers) >= threads)  # the flood is on
        ids = {_submitted(relay, beta) for _ in range(TASKS)}
        for task_id in ids:
            relay.wait_task(task_id, settled)
        ended = wait_for(lambda: _deliveries(beta, ids), timeout=120)
        assert len(answers) > threads, "A's flood went on while B's deliveries ended"
    finally:
        done.set()
        for thread in flooding:
            thread.join()
        patient.close()
    delivered = {json.loads(h["body"])["data"]["task_id"] for h in sink.accepted("/beta")}
    assert delivered == ids
    return ended, answers


def test_an_oversized_answer_is_its_own_error_and_costs_no_other_apps_delivery(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay()
    ask = {"type": "task.succeeded", "transform": OVERSIZED}
    ended, answers = _b_delivered_beside(relay, sink, 32, lambda n: ask)
    assert [d["state"] for d in ended] == ["succeeded"] * TASKS, ended
    # A's own error, in words: its answer too big (or, on a busy machine, its CPU passed).
    assert {a.status_code for a in answers} == {422}
    words = {a.json()["detail"] for a in answers}
    # Too big, said by the size check, or by the pool when its answer's frame is over 2 MiB
    # (the relay-owned header check carries the headers back whole).
    too_big = {
        "transform made headers and a path of 4,096,048 bytes, over 65,536 (64 KiB)",
        "body: transform stopped: its answer was over 2 MiB",
    }
    assert too_big & words, words
    assert words <= {*too_big, "body: transform stopped: it used more than 80 ms of CPU"}, words


def test_a_flood_of_costly_previews_leaves_another_apps_deliveries_whole(
    make_relay: MakeRelay, sink: Sink
) -> None:
    ops = [webhook(sink, "ops", channels=["alerts-only"])]
    relay = make_relay(
        ops,
        delivery={"retry_schedule": [0.5, 1]},
        alerts={"downstream": "ops", "quiet_minutes": 15},
    )
    ended, answers = _b_delivered_beside(relay, sink, FLOOD, _hungry)
    assert [(d["state"], d["attempts"]) for d in ended] == [("succeeded", 1)] * TASKS, ended
    # A's own are stopped in words (422), or refused as its own line is full (503).
    assert {a.status_code for a in answers} <= {422, 503}
    assert any("used more than 80 ms of CPU" in a.text for a in answers)
    alerts = [h["json"] for h in sink.accepted("/ops")]
    assert not [a for a in alerts if a.get("type") == "endpoint.failing"], alerts


def _postponed(relay: Relay) -> int:
    return sum(1 for line in relay.log_lines() if line.get("event") == "delivery.postponed")


def test_a_delivery_its_own_apps_full_line_refuses_waits_and_is_never_counted(
    make_relay: MakeRelay, sink: Sink
) -> None:
    """B floods its own line: its deliveries' evaluations are refused as an overload, the
    relay's own state, so each waits and is tried again without spending its schedule."""
    ops = [webhook(sink, "ops", channels=["alerts-only"])]
    relay = make_relay(
        ops,
        delivery={"retry_schedule": [0.5, 1]},
        alerts={"downstream": "ops", "quiet_minutes": 15},
    )
    beta = _app(relay, "beta")
    _made(beta, name="hooks", url=f"{sink.url}/beta", events=["succeeded"], filter=HONEST)
    done = threading.Event()
    patient = httpx.Client(base_url=relay.url, timeout=120, headers=beta.headers)
    flooding, answers = _flood(patient, FLOOD, _hungry, done)
    try:
        wait_for(lambda: any(a.status_code == 503 for a in answers), timeout=120)  # full
        ids = {_submitted(relay, beta) for _ in range(TASKS)}
        wait_for(lambda: _postponed(relay) >= TASKS, timeout=120)
    finally:
        done.set()
        for thread in flooding:
            thread.join()
        patient.close()
    ended = wait_for(lambda: _deliveries(beta, ids), timeout=120)
    assert [(d["state"], d["attempts"]) for d in ended] == [("succeeded", 1)] * TASKS, ended
    delivered = {json.loads(h["body"])["data"]["task_id"] for h in sink.accepted("/beta")}
    assert delivered == ids
    alerts = [h["json"] for h in sink.accepted("/ops")]
    assert not [a for a in alerts if a.get("type") == "endpoint.failing"], alerts
