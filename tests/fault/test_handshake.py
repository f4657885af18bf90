"""The CloudEvents webhook handshake, unattended (issues 90 and 92), with the relay as a
process on both backends: an endpoint down at its first delivery gets the event once it is
up, across a restart, nobody asking (a refused connection is a failed attempt, not a pause);
an answer that does not allow the relay pauses it, told once, and it is asked again on its
own until it allows; a rate that is no rate (`nan`, `inf`) is a refusal in words, its
deliveries held, the log not flooded; the verdict is the store's: a rate lowered by
`validate` is heard by the running fan-out, by another replica and after a restart, and
`validate` sends one OPTIONS, with no body and no content type. Every event is read by the
CNCF SDK."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from cloudevents.v1.http import from_http
from cloudevents.v1.http.event import CloudEvent

from receiver.devtools.localserver import BackgroundServer
from receiver.devtools.sink import create_sink_app
from tests.conftest import MakeRelay, webhook
from tests.harness import Relay, Sink, image_to_video, wait_for
from tests.testkit import free_port

pytestmark = pytest.mark.fault

# Retries every half second, long enough that no delivery dies while its endpoint is away.
PATIENT = {"retry_schedule": [0.5] * 60, "jitter": 0.1}


def _hook(relay: Relay, name: str) -> dict[str, Any]:
    found: dict[str, Any] = relay.api.get(f"/v1/downstreams/{name}").json()
    return found


def _deliveries(relay: Relay, name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = relay.api.get(
        "/v1/deliveries", params={"downstream": name}
    ).json()["deliveries"]
    return found


def _posts(sink: Sink, path: str) -> list[dict[str, Any]]:
    return [h for h in sink.received(path) if h["method"] == "POST"]


def _options(sink: Sink, path: str) -> list[dict[str, Any]]:
    return [h for h in sink.received(path) if h["method"] == "OPTIONS"]


def _event(hit: dict[str, Any]) -> CloudEvent:
    return from_http(hit["headers"], hit["body"].encode())


def _logged(relay: Relay, event: str) -> list[dict[str, Any]]:
    return [line for line in relay.log_lines() if line.get("event") == event]


@pytest.mark.every_backend
def test_an_endpoint_down_at_its_first_delivery_gets_the_event_once_up(
    make_relay: MakeRelay,
) -> None:
    port = free_port()  # nothing listens there yet: every connection is refused
    hook = {
        "name": "ce",
        "url": f"http://127.0.0.1:{port}/ce",
        "format": "webhook",
        "secret_env": "HOOK_SECRET",
        "timeout": 2.0,
        "envelope": "cloudevents",
    }
    relay = make_relay([hook], delivery=PATIENT)
    task = relay.submitted(**image_to_video())

    # Each refused OPTIONS is a failed attempt, retried on the delivery's schedule.
    def retried() -> dict[str, Any] | None:
        found = _deliveries(relay, "ce")
        return found[0] if found and found[0]["attempts"] >= 2 else None

    failed = retried() or wait_for(retried)
    assert failed["state"] == "pending", failed
    assert "OPTIONS (the CloudEvents webhook handshake)" in failed["last_error"], failed
    # Asked by hand meanwhile: no answer, said so; nothing kept, nothing paused.
    asked = relay.api.post("/v1/downstreams/ce/validate").json()
    assert asked["answered"] is False and asked["allowed"] is False, asked
    assert asked["reason"].startswith("no answer: its OPTIONS"), asked
    assert not _hook(relay, "ce")["disabled"]

    # The relay restarts while the endpoint is away; the endpoint comes up; nobody asks.
    relay.stop()
    again = make_relay([hook], delivery=PATIENT)
    server = BackgroundServer(create_sink_app(), port=port)
    server.start()
    sink = Sink(server)
    try:
        sink.mode(allowed_origin="*")
        hit = wait_for(lambda: next(iter(_posts(sink, "/ce")), None))
        assert _event(hit)["subject"] == task["id"]
        assert len(_options(sink, "/ce")) == 1  # asked once it could answer, then believed
        wait_for(lambda: _deliveries(again, "ce")[0]["state"] == "succeeded")
    finally:
        sink.close()
    assert not _hook(again, "ce")["disabled"]
    assert not _logged(again, "downstream.not_validated") + _logged(
        relay, "downstream.not_validated"
    )


@pytest.mark.every_backend
def test_a_refusal_pauses_once_and_is_asked_again_until_it_allows(
    make_relay: MakeRelay, make_sink: Any
) -> None:
    sink, ops = make_sink(), make_sink()
    # `ops` names a channel no task names: it takes the alerts alone.
    hooks = [
        webhook(sink, "ce", envelope="cloudevents"),
        webhook(ops, "ops", channels=["alerts-only"]),
    ]
    settings: dict[str, Any] = {
        "delivery": {**PATIENT, "handshake_ask_again_schedule": [0.5, 1.0]},
        "alerts": {"downstream": "ops", "digest_wait_seconds": 0.5},
    }
    relay = make_relay(hooks, **settings)
    relay.submit(**image_to_video())
    # The sink answers 200 with no WebHook-Allowed-Origin: a refusal, so a pause, with why.
    paused = wait_for(lambda: (d := _hook(relay, "ce"))["disabled"] and d)
    assert "its answer has no WebHook-Allowed-Origin" in paused["disabled_reason"], paused
    wait_for(lambda: [d["state"] for d in _deliveries(relay, "ce")] == ["held"])

    # Asked again on its own, on the slow schedule, across a restart; still refused.
    wait_for(lambda: len(_options(sink, "/ce")) >= 3)
    relay.stop()
    again = make_relay(hooks, **settings)
    asked = len(_options(sink, "/ce"))
    wait_for(lambda: len(_options(sink, "/ce")) >= asked + 2)
    assert _hook(again, "ce")["disabled"]

    # It allows: released at its next ask, nobody validating.
    sink.mode(allowed_origin="*")
    hit = wait_for(lambda: next(iter(_posts(sink, "/ce")), None))
    assert _event(hit)["type"] == "com.runway-relay.task.succeeded"
    wait_for(lambda: not _hook(again, "ce")["disabled"])

    # The operator heard of the pause once, however often it was asked again.
    alerts = wait_for(lambda: [h["json"] for h in ops.accepted("/ops")])
    disabled = [a for a in alerts if a["type"] == "endpoint.disabled"]
    assert len(disabled) == 1, alerts
    assert "WebHook-Allowed-Origin" in disabled[0]["data"]["reason"], disabled
    lines = _logged(relay, "downstream.not_validated") + _logged(again, "downstream.not_validated")
    assert len(lines) == 1, lines


@pytest.mark.every_backend
def test_a_rate_that_is_no_rate_is_refused_in_words(make_relay: MakeRelay, make_sink: Any) -> None:
    sinks = {"nan": make_sink(), "inf": make_sink()}
    for rate, sink in sinks.items():
        sink.mode(allowed_origin="*", allowed_rate=rate)
    hooks = [webhook(sink, rate, envelope="cloudevents") for rate, sink in sinks.items()]
    # Asked again every half second: a few rounds of the fan-out pass while it is held.
    relay = make_relay(hooks, delivery={**PATIENT, "handshake_ask_again_schedule": [0.5]})
    for _ in range(2):
        relay.submit(**image_to_video())
    for rate, sink in sinks.items():
        held = wait_for(lambda rate=rate: (d := _hook(relay, rate))["disabled"] and d)
        assert f"WebHook-Allowed-Rate '{rate}' is not a rate" in held["disabled_reason"], held
        wait_for(lambda rate=rate: [d["state"] for d in _deliveries(relay, rate)] == ["held"] * 2)
        wait_for(lambda sink=sink, rate=rate: len(_options(sink, f"/{rate}")) >= 4)
        assert not _posts(sink, f"/{rate}")
    # Told once each; nothing failed on any round of the fan-out.
    told = [line["downstream"] for line in _logged(relay, "downstream.not_validated")]
    assert sorted(told) == ["inf", "nan"], told
    errors = [line for line in relay.log_lines() if line.get("level") in ("error", "critical")]
    assert errors == [], errors[:3]
    assert "Traceback" not in relay.log()


PER_MINUTE, BURST = 60, 4  # one a second: four deliveries take three seconds at least
# The budget grants one a second; what reaches the sink is spaced by that less the spread of
# an attempt's own time on a loaded machine. Unpaced, the gaps are under 10 ms.
PACED = 0.5 * 60 / PER_MINUTE


def _paced(sink: Sink, path: str, from_post: int) -> list[float]:
    """The gaps between the POSTs after the first `from_post`, once BURST of them came."""
    posts = wait_for(lambda: len(p := _posts(sink, path)) >= from_post + BURST and p)
    times = sorted(h["received_at"] for h in posts)[from_post:]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


@pytest.mark.every_backend
def test_a_rate_lowered_by_validate_is_heard_and_outlives_a_restart(
    make_relay: MakeRelay, sink: Sink
) -> None:
    sink.mode(allowed_origin="*")
    hook = webhook(sink, "ce", envelope="cloudevents")
    relay = make_relay([hook])
    relay.submit(**image_to_video())
    wait_for(lambda: _posts(sink, "/ce"))
    assert len(_options(sink, "/ce")) == 1

    # Lowered and confirmed by validate: one OPTIONS, with no body and no content type.
    sink.mode(allowed_origin="*", allowed_rate=str(PER_MINUTE))
    found = relay.api.post("/v1/downstreams/ce/validate").json()
    assert found["allowed"] is True and found["allowed_rate"] == PER_MINUTE, found
    for _ in range(BURST):
        relay.submit(**image_to_video())
    gaps = _paced(sink, "/ce", 1)
    assert min(gaps) >= PACED, gaps  # heard by the running fan-out

    # A new process keeps the store's verdict: nothing asked again, the same pace.
    relay.stop()
    again = make_relay([hook])
    for _ in range(BURST):
        again.submit(**image_to_video())
    gaps = _paced(sink, "/ce", 1 + BURST)
    assert min(gaps) >= PACED, gaps
    asked = _options(sink, "/ce")
    assert len(asked) == 2, [h["received_at"] for h in asked]
    for options in asked:
        assert "content-type" not in options["headers"] and options["body"] == "", options
    assert _event(_posts(sink, "/ce")[-1])["type"] == "com.runway-relay.task.succeeded"


@pytest.mark.postgres
def test_a_rate_lowered_on_one_replica_is_heard_by_the_other(
    make_relay: MakeRelay, sink: Sink
) -> None:
    sink.mode(allowed_origin="*")
    hook = webhook(sink, "ce", envelope="cloudevents")
    one, two = make_relay([hook]), make_relay([hook])
    one.submit(**image_to_video())
    wait_for(lambda: _posts(sink, "/ce"))
    # The first delivery's asking (more than one when a loaded machine timed an ask out).
    asked = len(_options(sink, "/ce"))
    # Lowered through one replica; the burst comes in through both, and both send it.
    sink.mode(allowed_origin="*", allowed_rate=str(PER_MINUTE))
    found = two.api.post("/v1/downstreams/ce/validate").json()
    assert found["allowed_rate"] == PER_MINUTE, found
    for i in range(BURST):
        (one, two)[i % 2].submit(**image_to_video())
    gaps = _paced(sink, "/ce", 1)
    assert min(gaps) >= PACED, gaps
    # Validate's one OPTIONS, and no replica asked again: the verdict is the store's.
    assert len(_options(sink, "/ce")) == asked + 1
