"""Broker downstreams made through the API: every credential their URL carries (a password,
a NATS token in the user part, a `?password=`) is sealed in the store and masked in every
answer; names are plain; a template takes bare placeholders only, and no character its broker
reads as a wildcard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MakeRelay
from tests.fault.support import store_sql
from tests.harness import Relay

pytestmark = pytest.mark.fault

CREDENTIALS = {
    "nats": ("nats://NatsTokenProbe7731@127.0.0.1:4222", {"subject": "relay.{state}"}),
    "redis": ("redis://127.0.0.1:6379/0?password=RedisPassProbe7731", {"stream": "relay"}),
    "amqp": ("amqp://relay:AmqpPassProbe7731@127.0.0.1:5672/", {"routing_key": "relay"}),
    "mqtt": ("mqtt://relay:MqttPassProbe7731@127.0.0.1:1883", {"topic": "relay/{state}"}),
}
NEEDLES = ["NatsTokenProbe7731", "RedisPassProbe7731", "AmqpPassProbe7731", "MqttPassProbe7731"]


def _make(relay: Relay, name: str, fmt: str, url: str, **target: Any) -> Any:
    return relay.api.post(
        "/v1/downstreams", json={"name": name, "format": fmt, "url": url, **target}
    )


def _stored(storage_url: str, tmp_path: Path) -> str:
    if storage_url.startswith("sqlite"):
        files = tmp_path.glob("relay.db*")
        return "".join(p.read_bytes().decode("latin-1") for p in files)
    return repr(store_sql(storage_url, "SELECT * FROM downstreams"))


def test_broker_credentials_are_sealed_and_masked(
    make_relay: MakeRelay, storage_url: str, tmp_path: Path
) -> None:
    relay = make_relay()
    for fmt, (url, target) in CREDENTIALS.items():
        made = _make(relay, f"b-{fmt}", fmt, url, **target)
        assert made.status_code == 201, made.text
        assert not any(n in made.text for n in NEEDLES), made.text
    listed = relay.api.get("/v1/downstreams").text
    one = relay.api.get("/v1/downstreams/b-nats").text
    page = relay.console().get("/console/").text
    assert "b-nats" in page
    for text in (listed, one, page, _stored(storage_url, tmp_path)):
        assert not any(n in text for n in NEEDLES)
    assert "nats://***@127.0.0.1:4222" in one
    # A change keeps the sealed URL and its credential.
    changed = relay.api.patch("/v1/downstreams/b-redis", json={"timeout": 3})
    assert changed.status_code == 200, changed.text
    assert "password=***" in changed.json()["url"]
    assert not any(n in _stored(storage_url, tmp_path) for n in NEEDLES)
    relay.stop()
    assert not any(n in relay.log() for n in NEEDLES)


@pytest.mark.parametrize(
    ("fmt", "field", "template"),
    [
        ("nats", "subject", "{task_id:>40000000}"),
        ("nats", "subject", "{task_id!r}"),
        ("nats", "subject", "relay.>"),
        ("nats", "subject", "relay.*.{state}"),
        ("mqtt", "topic", "relay/#"),
        ("mqtt", "topic", "relay/+/{state}"),
        ("redis", "stream", "{state:^999999}"),
    ],
)
def test_templates_take_bare_placeholders_and_no_wildcards(
    make_relay: MakeRelay, fmt: str, field: str, template: str
) -> None:
    relay = make_relay()
    url = CREDENTIALS[fmt][0]
    refused = _make(relay, "t", fmt, url, **{field: template})
    assert refused.status_code == 422 and field in refused.json()["detail"], refused.text


@pytest.mark.parametrize("name", ["..", ".", ".a", "a.", "a..b", "a/b", "a b"])
def test_names_are_plain(make_relay: MakeRelay, name: str) -> None:
    relay = make_relay()
    refused = relay.api.post("/v1/downstreams", json={"name": name, "url": "http://h.test/x"})
    assert refused.status_code == 422 and "name" in refused.json()["detail"], refused.text
    made = relay.api.post("/v1/downstreams", json={"name": "a.b-c_d", "url": "http://h.test/x"})
    assert made.status_code == 201, made.text
