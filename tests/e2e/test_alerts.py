"""Operator alerts on a real relay: a downstream that fails until its breaker opens and its
deliveries go dead makes one `endpoint.failing` alert reach the alert downstream; its
recovery within the quiet window is held, and told once the window is over (by whichever
replica, after a restart too); at most one alert a window, none repeated by a restart or by
a second replica (the store decides, on both backends)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.conftest import BACKENDS, MakeRelay, webhook
from tests.e2e.test_app_downstreams import _app, _made
from tests.e2e.test_portal_links import _csrf, _link, _open
from tests.harness import Relay, Sink, image_to_video, settled, wait_for

FAILING = "endpoint.failing"
RECOVERED = "endpoint.recovered"


def _downstreams(bad: Sink, ops: Sink) -> list[dict[str, Any]]:
    # The breaker opens after two attempts of which half failed, and probes again at once.
    breaker = {
        "breaker_min_attempts": 2,
        "breaker_failure_rate": 0.5,
        "breaker_cool_off_seconds": 0.5,
    }
    # `ops` names a channel no task names: it takes the alerts alone.
    return [webhook(bad, "hook", **breaker), webhook(ops, "ops", channels=["alerts-only"])]


# One downstream at a time here: its digest need not wait for others (test_alert_digests.py).
WAIT = 0.5
ALERTS = {"alerts": {"downstream": "ops", "quiet_minutes": 15, "digest_wait_seconds": WAIT}}
# A window a test waits out: long enough that what a test does within it is held (it takes
# under 4 s on an idle machine: room for a loaded one).
WINDOW_SECONDS = 20.0
SHORT = {
    "alerts": {
        "downstream": "ops",
        "quiet_minutes": WINDOW_SECONDS / 60,
        "digest_wait_seconds": WAIT,
    }
}


def _deliver_tasks(relay: Relay, n: int) -> list[str]:
    ids = [relay.submitted(**image_to_video(promptText=f"alert {i}"))["id"] for i in range(n)]
    wait_for(lambda: all(settled(relay.task(t)) for t in ids))
    return ids


def _deliveries(relay: Relay, downstream: str, state: str | None = None) -> list[dict[str, Any]]:
    query = {"downstream": downstream, **({"state": state} if state else {})}
    answer = relay.api.get("/v1/deliveries", params=query)
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json()["deliveries"]
    return found


def _decided(relay: Relay, kind: str) -> int:
    """How many times this relay asked the store for an alert about `hook` (sent or not)."""
    return sum(
        1
        for line in relay.log_lines()
        if line.get("event") in ("alert.queued", "alert.quiet")
        and line.get("downstream") == "hook"
        and line.get("alert") == kind
    )


def _alerts(ops: Sink) -> list[dict[str, Any]]:
    return [h["json"] for h in ops.accepted("/ops")]


def _fail_until_dead(relays: list[Relay], bad: Sink, n: int) -> None:
    """`hook` answers 503 until `n` more deliveries to it are dead and every relay asked
    the store whether to alert."""
    bad.mode(status=503)
    before = len(_deliveries(relays[0], "hook", "dead"))
    asked = [_decided(r, FAILING) for r in relays]
    for i, relay in enumerate(relays * n):
        relay.submitted(**image_to_video(promptText=f"failing {i}"))
    wait_for(lambda: len(_deliveries(relays[0], "hook", "dead")) >= before + n * len(relays))
    wait_for(lambda: all(_decided(r, FAILING) > a for r, a in zip(relays, asked, strict=True)))


def _held(relay: Relay, kind: str) -> bool:
    """This relay asked the store, and the window held the alert back."""
    return any(
        line.get("event") == "alert.quiet" and line.get("alert") == kind
        for line in relay.log_lines()
    )


def _apart(alerts: list[dict[str, Any]]) -> list[float]:
    """Seconds between each alert and the one before."""
    at = [a["data"]["occurred_at"] for a in alerts]
    return [b - a for a, b in itertools.pairwise(at)]


@pytest.mark.every_backend
def test_one_failing_alert_its_recovery_held_and_none_after_a_restart(
    make_relay: MakeRelay, make_sink: Any
) -> None:
    bad, ops = make_sink(), make_sink()
    relay = make_relay(_downstreams(bad, ops), **ALERTS)
    _fail_until_dead([relay], bad, 3)
    wait_for(lambda: len(_alerts(ops)) == 1)
    [failing] = _alerts(ops)
    assert failing["type"] == FAILING and failing["data"]["downstream"] == "hook"
    assert failing["data"]["task_id"] == "tsk_relay" and failing["data"]["reason"]
    assert failing["data"]["failing_since"] is not None
    # Breaker opened, and three dead letters: one alert in the quiet window.
    assert len(_deliveries(relay, "ops")) == 1

    # Delivering again within the window: the recovery waits for the window's end.
    bad.mode(status=200)
    _deliver_tasks(relay, 2)
    wait_for(lambda: _held(relay, RECOVERED))
    assert len(_deliveries(relay, "ops")) == 1

    # A restart forgets nothing: failing again within the window, no alert.
    relay.stop()
    again = make_relay(_downstreams(bad, ops), **ALERTS)
    _fail_until_dead([again], bad, 1)
    assert len(_deliveries(again, "ops")) == 1
    assert [a["type"] for a in _alerts(ops)] == [FAILING]


@pytest.mark.every_backend
def test_a_recovery_held_by_the_window_is_told_after_a_restart(
    make_relay: MakeRelay, make_sink: Any
) -> None:
    bad, ops = make_sink(), make_sink()
    relay = make_relay(_downstreams(bad, ops), **SHORT)
    _fail_until_dead([relay], bad, 1)
    wait_for(lambda: len(_alerts(ops)) == 1)
    bad.mode(status=200)
    _deliver_tasks(relay, 1)
    wait_for(lambda: _held(relay, RECOVERED))
    relay.stop()  # within the window: the held recovery is in the store alone
    assert _sent(relay) == 1

    again = make_relay(_downstreams(bad, ops), **SHORT)
    wait_for(lambda: len(_alerts(ops)) == 2)
    assert [a["type"] for a in _alerts(ops)] == [FAILING, RECOVERED]
    assert _alerts(ops)[1]["data"]["reason"] == "a delivery went through again"
    assert _apart(_alerts(ops))[0] >= WINDOW_SECONDS
    assert _sent(again) == 1


def test_a_flapping_downstream_is_told_at_most_once_a_window(
    make_relay: MakeRelay, make_sink: Any
) -> None:
    """Failing, recovered, failing again within one window: the window's end tells the state
    then, the same as the last alert told, so nothing; a recovery after it is told."""
    bad, ops = make_sink(), make_sink()
    relay = make_relay(_downstreams(bad, ops), **SHORT)
    _fail_until_dead([relay], bad, 1)
    wait_for(lambda: len(_alerts(ops)) == 1)
    bad.mode(status=200)
    _deliver_tasks(relay, 1)
    wait_for(lambda: _held(relay, RECOVERED))
    _fail_until_dead([relay], bad, 1)
    # The window's end finds it failing, as last told: nothing goes out.
    wait_for(lambda: any(line.get("event") == "alert.unchanged" for line in relay.log_lines()))
    assert [a["type"] for a in _alerts(ops)] == [FAILING]
    # Past the window, a recovery is told at once.
    bad.mode(status=200)
    _deliver_tasks(relay, 1)
    wait_for(lambda: len(_alerts(ops)) == 2)
    assert [a["type"] for a in _alerts(ops)] == [FAILING, RECOVERED]
    assert _apart(_alerts(ops))[0] >= WINDOW_SECONDS


@pytest.mark.every_backend
def test_a_short_quiet_window_tells_a_failure_again(make_relay: MakeRelay, make_sink: Any) -> None:
    bad, ops = make_sink(), make_sink()
    # A 0.6 s window, and each digest sent at the next scan.
    quick = {"alerts": {"downstream": "ops", "quiet_minutes": 0.01, "digest_wait_seconds": 0}}
    relay = make_relay(_downstreams(bad, ops), **quick)
    # Its breaker opens at the second attempt, its delivery dies 1.4 s after the first
    # attempt: past the window, so more than one is told.
    _fail_until_dead([relay], bad, 1)
    wait_for(lambda: len(_alerts(ops)) >= 2)
    assert {a["type"] for a in _alerts(ops)} == {FAILING}


@pytest.mark.postgres
@pytest.mark.skipif("postgres" not in BACKENDS, reason="RELAY_TEST_BACKENDS excludes postgres")
def test_two_replicas_send_one_alert_a_window(make_relay: MakeRelay, make_sink: Any) -> None:
    bad, ops = make_sink(), make_sink()
    relays = [make_relay(_downstreams(bad, ops), **SHORT) for _ in range(2)]
    bad.mode(status=503)
    for i, relay in enumerate(relays * 3):
        relay.submitted(**image_to_video(promptText=f"failing {i}"))
    wait_for(lambda: len(_deliveries(relays[0], "hook", "dead")) >= 6)
    wait_for(lambda: len(_alerts(ops)) >= 1)
    assert [a["type"] for a in _alerts(ops)] == [FAILING]
    # Both replicas delivering again, within the window or not: one recovery, for the
    # whole relay, at least a window after the failure.
    bad.mode(status=200)
    for relay in relays:
        _deliver_tasks(relay, 2)
    wait_for(lambda: len(_alerts(ops)) >= 2)
    assert [a["type"] for a in _alerts(ops)] == [FAILING, RECOVERED]
    assert _apart(_alerts(ops))[0] >= WINDOW_SECONDS
    assert len(_deliveries(relays[0], "ops")) == 2
    sent = sorted(_sent(r) for r in relays)
    assert sum(sent) == 2, sent


def _sent(relay: Relay) -> int:
    return sum(1 for line in relay.log_lines() if line.get("event") == "alert.sent")


def test_a_410_disables_and_tells_it_once_then_the_recovery(
    make_relay: MakeRelay, make_sink: Any
) -> None:
    bad, ops = make_sink(), make_sink()
    relay = make_relay(_downstreams(bad, ops), **SHORT)
    bad.mode(status=410)
    relay.submitted(**image_to_video(promptText="gone"))
    wait_for(lambda: _alerts(ops))
    [disabled] = _alerts(ops)
    assert disabled["type"] == "endpoint.disabled"
    assert disabled["data"]["reason"] == "the receiver answered 410 Gone"
    assert relay.api.get("/v1/downstreams/hook").json()["disabled"] is True

    bad.mode(status=200)
    assert relay.api.post("/v1/downstreams/hook/enable").status_code == 200
    _deliver_tasks(relay, 1)
    wait_for(lambda: len(_alerts(ops)) == 2)
    assert [a["type"] for a in _alerts(ops)] == ["endpoint.disabled", RECOVERED]
    assert _apart(_alerts(ops))[0] >= WINDOW_SECONDS  # held till the window's end


def test_an_operators_disable_is_told_once(make_relay: MakeRelay, make_sink: Any) -> None:
    bad, ops = make_sink(), make_sink()
    relay = make_relay(_downstreams(bad, ops), **ALERTS)
    assert relay.api.post("/v1/downstreams/hook/disable").status_code == 200
    wait_for(lambda: _alerts(ops))
    [disabled] = _alerts(ops)
    assert disabled["type"] == "endpoint.disabled"
    assert (disabled["data"]["downstream"], disabled["data"]["reason"]) == (
        "hook",
        "disabled by an operator",
    )
    # Enabled, delivering (so the fan-out saw it enabled), and disabled again within the
    # window: each held back.
    assert relay.api.post("/v1/downstreams/hook/enable").status_code == 200
    _deliver_tasks(relay, 1)
    wait_for(lambda: _held(relay, RECOVERED))
    assert relay.api.post("/v1/downstreams/hook/disable").status_code == 200
    wait_for(lambda: _held(relay, "endpoint.disabled"))
    assert len(_deliveries(relay, "ops")) == 1


def test_an_apps_alert_downstream_takes_its_own_endpoints_alerts(
    make_relay: MakeRelay, make_sink: Any
) -> None:
    bad, ops, mine = make_sink(), make_sink(), make_sink()
    relay = make_relay([webhook(ops, "ops", channels=["alerts-only"])], **ALERTS)
    alpha = _app(relay, "alpha")
    _made(alpha, name="crm", url=f"{bad.url}/crm", events=["succeeded"])
    _made(alpha, name="alerts", url=f"{mine.url}/alerts", channels=["alerts-only"])
    refused = relay.api.patch("/v1/apps/alpha", json={"alert_downstream": "nope"})
    assert refused.status_code == 422 and "alert_downstream" in refused.text
    changed = relay.api.patch("/v1/apps/alpha", json={"alert_downstream": "alerts"})
    assert changed.status_code == 200 and changed.json()["alert_downstream"] == "alerts"

    bad.mode(status=503)
    assert alpha.post("/v1/tasks", json=image_to_video()).status_code == 202
    wait_for(lambda: mine.accepted("/alerts") and ops.accepted("/ops"))
    [told] = [h["json"] for h in mine.accepted("/alerts")]
    assert told["type"] == FAILING
    assert (told["data"]["downstream"], told["data"]["app"]) == ("crm", "alpha")
    # One event, a delivery to each alert downstream.
    assert [h["json"]["data"]["event_id"] for h in ops.accepted("/ops")] == [
        told["data"]["event_id"]
    ]
    cleared = relay.cli("apps", "alerts", "alpha")
    assert cleared.returncode == 0 and "alerts to none" in cleared.stdout, cleared.stderr
    assert relay.api.get("/v1/apps/alpha").json()["alert_downstream"] is None
    named = relay.cli("apps", "alerts", "alpha", "alerts")
    assert named.stdout.strip() == "alpha: alerts to alerts", named.stderr
    shown = relay.cli("apps", "show", "alpha").stdout.splitlines()
    assert [line.split() for line in shown if line.startswith("alerts to")] == [
        ["alerts", "to", "alerts"]
    ]
    refused = relay.cli("apps", "alerts", "alpha", "nope")
    assert refused.returncode != 0 and "no downstream named 'nope'" in refused.stderr


def test_an_app_names_its_alert_endpoint_on_its_portal(
    make_relay: MakeRelay, make_sink: Any
) -> None:
    sink = make_sink()
    relay = make_relay()
    alpha = _app(relay, "alpha")
    _made(alpha, name="crm", url=f"{sink.url}/crm")
    _made(alpha, name="alerts", url=f"{sink.url}/alerts")
    session, _ = _open(relay, str(_link(alpha)["url"]))
    page = session.get("/portal/")
    assert 'id="alerts"' in page.text and 'name="alert_downstream"' in page.text
    saved = session.post("/portal/alerts", data={"csrf": _csrf(page), "alert_downstream": "alerts"})
    assert saved.status_code == 303
    shown = session.get(saved.headers["location"].removeprefix(relay.url))
    assert "Alerts endpoint saved." in shown.text
    assert '<option value="alerts" selected>' in shown.text
    assert relay.api.get("/v1/apps/alpha").json()["alert_downstream"] == "alerts"
    # Only its own endpoints: another name is refused, and nothing changes.
    refused = session.post("/portal/alerts", data={"csrf": _csrf(page), "alert_downstream": "x"})
    assert refused.status_code == 422
    assert relay.api.get("/v1/apps/alpha").json()["alert_downstream"] == "alerts"
    cleared = session.post("/portal/alerts", data={"csrf": _csrf(page), "alert_downstream": ""})
    assert cleared.status_code == 303
    assert relay.api.get("/v1/apps/alpha").json()["alert_downstream"] is None


def test_a_test_alert_tries_the_alert_downstream(make_relay: MakeRelay, make_sink: Any) -> None:
    bad, ops = make_sink(), make_sink()
    relay = make_relay(_downstreams(bad, ops), **ALERTS)
    tried = relay.api.post("/v1/downstreams/ops/test", json={"type": FAILING})
    assert tried.status_code == 200 and tried.json()["status"] == 200, tried.text
    [sample] = _alerts(ops)
    assert sample["type"] == FAILING and sample["data"]["test"] is True
    assert _deliveries(relay, "ops") == []  # outside the outbox, and no mark: not an alert
