"""Operator alerts gathered per app on a real relay: one app's downstreams failing together
make one `endpoint.failing` message a quiet window naming them (the first twenty, then how
many more), another app's are a message of their own; a digest waiting in the store goes
out after a restart, and two replicas seeing the same failures send it once (both backends;
the replicas on PostgreSQL)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import BACKENDS, MakeRelay, webhook
from tests.e2e.test_app_downstreams import _app, _made
from tests.harness import Relay, Sink, image_to_video, wait_for

FAILING = "endpoint.failing"
LISTED = 20  # receiver/alerts/rules.py: a digest names this many, then counts the rest
# Long enough that every downstream of one task's fan-out has gone dead before the digest
# goes (about 2 s on an idle machine: room for a loaded one), within a 15 minute window.
WAIT = 15.0


def _relay(make_relay: MakeRelay, ops: Sink, wait: float = WAIT) -> Relay:
    alerts = {"downstream": "ops", "quiet_minutes": 15, "digest_wait_seconds": wait}
    # `ops` names a channel no task names: it takes the alerts alone.
    return make_relay([webhook(ops, "ops", channels=["alerts-only"])], alerts=alerts)


def _failing_app(relay: Relay, bad: Sink, app: str, count: int) -> tuple[httpx.Client, set[str]]:
    """An app with `count` downstreams that all answer 503."""
    client = _app(relay, app)
    names = {f"{app}-{i:02}" for i in range(count)}
    for name in sorted(names):
        _made(client, name=name, url=f"{bad.url}/{name}", events=["succeeded"])
    return client, names


def _alerts(ops: Sink) -> list[dict[str, Any]]:
    return [h["json"]["data"] for h in ops.accepted("/ops")]


def _queued(relay: Relay) -> int:
    """How many downstreams this relay named in a digest."""
    return sum(1 for line in relay.log_lines() if line.get("event") == "alert.queued")


def _count(alert: dict[str, Any]) -> int:
    return len(alert["downstreams"]) + int(alert["more"])


@pytest.mark.every_backend
def test_an_apps_forty_failing_downstreams_make_one_message(
    make_relay: MakeRelay, make_sink: Any
) -> None:
    bad, ops = make_sink(), make_sink()
    bad.mode(status=503)
    relay = _relay(make_relay, ops)
    alpha, alphas = _failing_app(relay, bad, "alpha", 40)
    beta, betas = _failing_app(relay, bad, "beta", 10)
    for client in (alpha, beta):
        assert client.post("/v1/tasks", json=image_to_video()).status_code == 202
    wait_for(lambda: _queued(relay) >= 50, timeout=120)
    wait_for(lambda: len(_alerts(ops)) >= 2)

    # One message an app, not one a downstream: fifty failing, two messages.
    by_app = {a["app"]: a for a in _alerts(ops)}
    assert len(_alerts(ops)) == 2 and set(by_app) == {"alpha", "beta"}, _alerts(ops)
    many = by_app["alpha"]
    assert many["type"] == FAILING and many["downstream"] is None
    assert many["reason"] == "40 downstreams are failing"
    assert many["failing_since"] is not None
    # Every one counted, the first twenty named (each once, with its reason), the rest
    # said as "20 more": forty downstreams cannot make the message forty times as long.
    named = [d["downstream"] for d in many["downstreams"]]
    assert (len(named), many["more"]) == (LISTED, 40 - LISTED)
    assert len(set(named)) == LISTED and set(named) <= alphas
    assert all(d["reason"].startswith("a delivery went dead") for d in many["downstreams"])
    few = by_app["beta"]
    assert {d["downstream"] for d in few["downstreams"]} == betas and few["more"] == 0
    assert _count(few) == 10 and few["event_id"] != many["event_id"]
    assert len([line for line in relay.log_lines() if line.get("event") == "alert.sent"]) == 2


@pytest.mark.every_backend
def test_a_digest_waiting_in_the_store_goes_out_after_a_restart(
    make_relay: MakeRelay, make_sink: Any
) -> None:
    bad, ops = make_sink(), make_sink()
    bad.mode(status=503)
    relay = _relay(make_relay, ops, wait=20.0)
    alpha, alphas = _failing_app(relay, bad, "alpha", 5)
    assert alpha.post("/v1/tasks", json=image_to_video()).status_code == 202
    wait_for(lambda: _queued(relay) >= 5)
    relay.stop()  # within the digest's wait: it is in the store alone
    assert _alerts(ops) == []

    again = _relay(make_relay, ops, wait=20.0)
    wait_for(lambda: _alerts(ops), timeout=60)
    [told] = _alerts(ops)
    assert {d["downstream"] for d in told["downstreams"]} == alphas and told["app"] == "alpha"
    assert sum(1 for line in again.log_lines() if line.get("event") == "alert.sent") == 1


def test_a_digest_of_one_reads_as_the_alert_about_it(make_relay: MakeRelay, make_sink: Any) -> None:
    bad, ops = make_sink(), make_sink()
    bad.mode(status=503)
    relay = _relay(make_relay, ops, wait=0.5)
    alpha, _ = _failing_app(relay, bad, "alpha", 1)
    assert alpha.post("/v1/tasks", json=image_to_video()).status_code == 202
    wait_for(lambda: _alerts(ops))
    [told] = _alerts(ops)
    assert (told["downstream"], told["app"], told["more"]) == ("alpha-00", "alpha", 0)
    assert told["reason"].startswith("a delivery went dead")
    assert told["downstreams"] == [{k: told[k] for k in ("downstream", "reason", "failing_since")}]


@pytest.mark.postgres
@pytest.mark.skipif("postgres" not in BACKENDS, reason="RELAY_TEST_BACKENDS excludes postgres")
def test_two_replicas_send_an_apps_digest_once(make_relay: MakeRelay, make_sink: Any) -> None:
    bad, ops = make_sink(), make_sink()
    bad.mode(status=503)
    relays = [_relay(make_relay, ops) for _ in range(2)]
    alpha, alphas = _failing_app(relays[0], bad, "alpha", 10)
    # A task through each replica: both fan out to every downstream, and both see them fail.
    key = alpha.headers["authorization"]
    for relay in relays:
        with httpx.Client(base_url=relay.url, headers={"authorization": key}) as client:
            assert client.post("/v1/tasks", json=image_to_video()).status_code == 202
    wait_for(lambda: sum(_queued(r) for r in relays) >= 10, timeout=120)
    wait_for(lambda: _alerts(ops))
    [told] = _alerts(ops)
    assert {d["downstream"] for d in told["downstreams"]} == alphas and told["more"] == 0
    sent = [sum(1 for ln in r.log_lines() if ln.get("event") == "alert.sent") for r in relays]
    assert sum(sent) == 1, sent
