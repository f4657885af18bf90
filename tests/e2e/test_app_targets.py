"""What an app's key may name as a downstream, through the API: an AWS or broker target
only where the operator's patterns allow it (`delivery.allowed_targets` for every app,
`delivery.allowed_targets_by_app.<app>` for one), while the admin is not restricted; an
S3 key or prefix with `..`, `//` or a leading `/` refused for everyone; static headers
that are hop-by-hop, framing, a cookie or the signature's, or hold a control character,
refused with the header named; and `/asyncapi.json` shows an app its own downstreams."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import MakeRelay, webhook
from tests.e2e.test_apps import app_key, make_app
from tests.e2e.test_keys import as_key
from tests.harness import Relay, Sink

SCOPES = ["tasks:submit", "tasks:read", "downstreams"]
QUEUES = "https://sqs.us-east-1.amazonaws.com/123456789012"
ALLOWED = {
    "allowed_targets": [f"{QUEUES}/shared-*"],
    "allowed_targets_by_app": {
        "alpha": [
            f"{QUEUES}/alpha-*",
            "nats://127.0.0.1:4222/alpha.*",
            "s3://acme/alpha/*",
            "kafka://127.0.0.1:*/alpha.*",
        ],
        "beta": [f"{QUEUES}/beta-*"],
    },
}


def _app(relay: Relay, name: str) -> httpx.Client:
    make_app(relay, name)
    return as_key(relay, app_key(relay, name, f"{name}-key", SCOPES))


def _queue(name: str, queue: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "format": "sqs", "url": f"{QUEUES}/{queue}", **extra}


def _refused(answer: httpx.Response, *words: str) -> None:
    assert answer.status_code == 422, answer.text
    detail = str(answer.json()["detail"])
    assert all(word in detail for word in words), detail


def test_an_apps_key_names_only_the_targets_the_operator_allows(make_relay: MakeRelay):
    relay = make_relay(delivery=ALLOWED)
    alpha, beta = _app(relay, "alpha"), _app(relay, "beta")
    made = alpha.post("/v1/downstreams", json=_queue("jobs", "alpha-jobs"))
    assert made.status_code == 201, made.text
    # Another app's queue, or the operator's: refused, naming the setting.
    for queue in ("alpha-jobs", "operator-jobs"):
        theirs = beta.post("/v1/downstreams", json=_queue("jobs", queue))
        _refused(theirs, f"{QUEUES}/{queue}", "delivery.allowed_targets_by_app.beta")
    assert beta.post("/v1/downstreams", json=_queue("shared", "shared-jobs")).status_code == 201
    # A stand-in endpoint is a target too: the relay's AWS identity would sign for it.
    elsewhere = _queue("jobs2", "alpha-more", endpoint_url="http://127.0.0.1:9/")
    _refused(alpha.post("/v1/downstreams", json=elsewhere), "http://127.0.0.1:9/")
    # A change to another app's queue is refused as a new one is.
    moved = alpha.patch("/v1/downstreams/jobs", json={"url": f"{QUEUES}/beta-jobs"})
    _refused(moved, f"{QUEUES}/beta-jobs", "delivery.allowed_targets_by_app.alpha")
    # Brokers: the server and the subject, never the credentials, are matched.
    bus = {"name": "bus", "format": "nats", "url": "nats://u:pw@127.0.0.1:4222"}
    assert (
        alpha.post("/v1/downstreams", json={**bus, "subject": "alpha.{state}"}).status_code == 201
    )
    other = alpha.post("/v1/downstreams", json={**bus, "name": "bus2", "subject": "beta.{state}"})
    _refused(other, "nats://127.0.0.1:4222/beta.{state}")
    assert "pw" not in other.text
    # Each of a Kafka URL's servers must match: a `*` takes in no second server.
    log = {"name": "log", "format": "kafka", "url": "kafka://127.0.0.1:9092/alpha.events"}
    assert alpha.post("/v1/downstreams", json=log).status_code == 201
    for added in ("localhost:9092", "10.0.0.9:9092"):
        more = {**log, "name": "log2", "url": f"kafka://127.0.0.1:9092,{added}/alpha.events"}
        _refused(alpha.post("/v1/downstreams", json=more), f"kafka://{added}/alpha.events")
    archive = {"name": "archive", "format": "s3"}
    own = alpha.post("/v1/downstreams", json={**archive, "url": "s3://acme/alpha/events"})
    assert own.status_code == 201, own.text
    _refused(alpha.post("/v1/downstreams", json={**archive, "url": "s3://acme/beta"}), "s3://acme")
    # The operator is not restricted: its own, or one it makes for an app.
    assert relay.api.post("/v1/downstreams", json=_queue("ops", "operator-jobs")).status_code == 201
    for_beta = {**_queue("given", "alpha-jobs"), "owner": "beta"}
    assert relay.api.post("/v1/downstreams", json=for_beta).status_code == 201
    # Webhooks are no AWS or broker target: not matched.
    hook = {"name": "hook", "url": "http://127.0.0.1:9/hook"}
    assert beta.post("/v1/downstreams", json=hook).status_code == 201


def test_an_s3_key_or_prefix_that_climbs_is_refused_for_everyone(make_relay: MakeRelay):
    relay = make_relay()
    alpha = _app(relay, "alpha")
    archive = {"name": "archive", "format": "s3", "url": "s3://acme/alpha"}
    for client in (relay.api, alpha):
        for key in ("../../other/{event_id}", "a//{event_id}", "/{event_id}"):
            answer = client.post("/v1/downstreams", json={**archive, "key": key})
            _refused(answer, "key: must not hold `..` or `//`, nor start with /")
        for url in ("s3://acme/alpha/../../other", "s3://acme//alpha"):
            answer = client.post("/v1/downstreams", json={**archive, "url": url})
            _refused(answer, "prefix: must not hold `..` or `//`")


def test_static_headers_refuse_hop_by_hop_framing_and_control_characters(
    make_relay: MakeRelay, sink: Sink
):
    relay = make_relay()
    alpha = _app(relay, "alpha")
    hook = {"name": "hook", "url": f"{sink.url}/hook"}
    for name in ("Connection", "Upgrade", "Expect", "TE", "Transfer-Encoding", "Content-Length"):
        answer = alpha.post("/v1/downstreams", json={**hook, "headers": {name: "x"}})
        _refused(answer, f"headers: {name} is the relay's to set")
    for name in ("Host", "Cookie", "Keep-Alive", "Proxy-Authorization", "webhook-id"):
        answer = relay.api.post("/v1/downstreams", json={**hook, "headers": {name: "x"}})
        _refused(answer, f"headers: {name} is the relay's to set")
    for value in ("a\x01b", "a\x00b", "a\rb", "a\x7f"):
        answer = alpha.post("/v1/downstreams", json={**hook, "headers": {"X-Key": value}})
        assert answer.status_code in (400, 422), answer.text  # NUL: refused at the door
        assert "X-Key" in answer.text or "NUL" in answer.text, answer.text
    made = alpha.post("/v1/downstreams", json={**hook, "headers": {"X-Key": "k\tv"}})
    assert made.status_code == 201, made.text
    changed = alpha.patch("/v1/downstreams/hook", json={"headers": {"Cookie": "s=1"}})
    _refused(changed, "headers: Cookie is the relay's to set")


def test_asyncapi_shows_an_app_its_own_downstreams_only(make_relay: MakeRelay, sink: Sink):
    relay = make_relay([webhook(sink, "global")])
    alpha, beta = _app(relay, "alpha"), _app(relay, "beta")
    for client, name in ((alpha, "mine"), (beta, "theirs")):
        made = client.post("/v1/downstreams", json={"name": name, "url": f"{sink.url}/{name}"})
        assert made.status_code == 201, made.text

    def servers(client: httpx.Client) -> set[str]:
        answer = client.get("/asyncapi.json")
        assert answer.status_code == 200, answer.text
        assert "app_" not in answer.text  # an internal id: never shown to an app
        return set(answer.json()["servers"])

    assert servers(alpha) == {"downstream-mine"}
    assert servers(beta) == {"downstream-theirs"}
    every = relay.api.get("/asyncapi.json").json()["servers"]
    assert {"downstream-global"} <= set(every) and len(every) == 3, every
