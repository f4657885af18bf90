"""Every URL the API takes is checked one way: a host every client can encode, and no private
address in any spelling (numeric IPv4 forms, IPv6 carrying an IPv4 address). And an attempt
that raises, whatever the reason, is that attempt's failure: retried, then dead-lettered with
its reason, while the other downstreams are served."""

from __future__ import annotations

import json

import pytest

from tests.conftest import MakeRelay, webhook
from tests.fault.support import store_sql
from tests.harness import Sink, image_to_video, settled, wait_for

pytestmark = pytest.mark.fault

LONG_LABEL = "a" * 64
PRIVATE_SPELLINGS = [
    "http://2130706433/hook",
    "http://127.1/hook",
    "http://0x7f.0.0.1/hook",
    "http://0177.0.0.1/hook",
    "http://[64:ff9b::7f00:1]/hook",
    "http://[2002:7f00:1::]/hook",
    "http://[::7f00:1]/hook",
    "http://[::ffff:169.254.169.254]/hook",
]
UNENCODABLE = [f"http://{LONG_LABEL}.example.com/hook", "http://" + "abc." * 70 + "com/"]


def test_every_spelling_of_a_private_address_and_every_bad_name_is_refused(
    make_relay: MakeRelay,
) -> None:
    relay = make_relay(delivery={"allow_private_networks": False})
    for url in PRIVATE_SPELLINGS + UNENCODABLE:
        task = relay.submit(**image_to_video(webhook=url))
        assert task.status_code == 422 and "webhook" in task.json()["detail"], (url, task.text)
        made = relay.api.post("/v1/downstreams", json={"name": "x", "url": url})
        assert made.status_code == 422 and "url" in made.json()["detail"], (url, made.text)
    public = relay.api.post(
        "/v1/downstreams", json={"name": "x", "url": "http://[64:ff9b::808:808]/"}
    )
    assert public.status_code == 201, public.text
    # Every server of a Kafka URL is one the relay may connect to, not only its first.
    for servers in ("nonexistent.invalid:9092,127.0.0.1:9", "[64:ff9b::808:808]:9092,127.1:9"):
        kafka = {"name": "k", "format": "kafka", "url": f"kafka://{servers}/t"}
        made = relay.api.post("/v1/downstreams", json=kafka)
        assert made.status_code == 422, made.text
        assert "127." in made.json()["detail"] and "private" in made.json()["detail"], made.text


def test_an_attempt_that_raises_fails_with_its_reason_and_the_others_go_on(
    make_relay: MakeRelay, sink: Sink, storage_url: str
) -> None:
    relay = make_relay([webhook(sink, events=["succeeded"])])
    # Names past 63 characters are refused now, but are in stores an older release wrote.
    for url in UNENCODABLE:
        refused = relay.api.post("/v1/downstreams", json={"name": "old", "url": url})
        assert refused.status_code == 422, refused.text
    made = relay.api.post("/v1/downstreams", json={"name": "old", "url": f"{sink.url}/old"})
    assert made.status_code == 201, made.text
    stored = store_sql(storage_url, "SELECT spec FROM downstreams WHERE name = 'old'")[0][0]
    spec = {**json.loads(stored), "url": UNENCODABLE[0]}
    spec.pop("sealed_url")  # as an older release stored it, in clear
    # Written as a change is (the next number of the changes' counter), so the directory
    # reads it at its next tick. The relay takes the number and marks the row in one
    # transaction; here, in two statements, the row is marked first: a tick between the two
    # that read the counter already moved would take the number as seen, and the row never.
    store_sql(
        storage_url,
        "UPDATE downstreams SET spec = ?, changed_at = changed_at + 1,"
        " change_seq = (SELECT seq + 1 FROM downstream_changes WHERE id = 1) WHERE name = 'old'",
        json.dumps(spec),
    )
    store_sql(storage_url, "UPDATE downstream_changes SET seq = seq + 1 WHERE id = 1")
    wait_for(lambda: LONG_LABEL in relay.api.get("/v1/downstreams/old").text)
    task = relay.wait_task(relay.submit(**image_to_video()).json()["id"], settled)
    assert task["state"] == "succeeded"
    wait_for(lambda: sink.accepted("/hook"))

    def dead() -> list[dict[str, object]]:
        params = {"state": "dead", "downstream": "old"}
        rows = relay.api.get("/v1/deliveries", params=params).json()["deliveries"]
        return list(rows)

    [row] = wait_for(dead)
    # A transport failure with its own reason, not a crash of the attempt.
    assert str(row["last_error"]).endswith("last: the URL's host cannot be encoded")
    assert "Task exception was never retrieved" not in relay.log()
    assert "delivery.attempt_raised" not in relay.log()
