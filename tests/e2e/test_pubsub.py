"""Google Pub/Sub against Google's emulator on loopback (tests/pubsub.py), which the relay
reaches as Google's clients do, through PUBSUB_EMULATOR_HOST: a subscriber pulls exactly the
document a webhook receiver gets, signed, with the Standard Webhooks attributes and the task
id as ordering key; a topic Pub/Sub does not have is a failure, never delivered; a URL that
names no topic is a 422 in words; and a downstream from the API meets the address guard."""

from __future__ import annotations

import json
from typing import Any

from standardwebhooks import Webhook

from tests.brokers import unique
from tests.conftest import MakeRelay, webhook
from tests.e2e.test_brokers import signed
from tests.harness import Relay, Sink, image_to_video, wait_for
from tests.pubsub import PROJECT, Emulator, PubsubTopic

COMMON = {"format": "pubsub", "timeout": 2.0}


def _rows(relay: Relay, task_id: str) -> dict[str, dict[str, Any]]:
    found = relay.api.get("/v1/deliveries", params={"task_id": task_id}).json()
    return {d["downstream"]: d for d in found["deliveries"]}


def test_pubsub_gets_the_document_a_webhook_gets_with_its_attributes_keyed_by_task(
    make_relay: MakeRelay, sink: Sink, pubsub_emulator: Emulator
) -> None:
    topic, made = PubsubTopic(pubsub_emulator), PubsubTopic(pubsub_emulator)
    missing = f"pubsub://projects/{PROJECT}/topics/relay-test-{unique()}"  # never made
    relay = make_relay(
        [
            webhook(sink),
            {**COMMON, "name": "pubsub", "url": topic.url, "secret_env": "HOOK_SECRET"},
            {**COMMON, "name": "no-topic", "url": missing},
        ],
        env={"PUBSUB_EMULATOR_HOST": pubsub_emulator.host},
    )
    created = relay.api.post(
        "/v1/downstreams", json={**COMMON, "name": "pubsub-api", "url": made.url}
    )
    assert created.status_code == 201, created.text
    task = relay.submitted(**image_to_video())
    [hit] = wait_for(lambda: sink.accepted("/hook") or None)
    expected = json.loads(hit["body"])

    [message] = wait_for(lambda: topic.messages() or None)
    assert signed(message.attributes, message.data) == expected
    assert message.ordering_key == task["id"]  # one task's events in order, where ordered
    attributes = message.attributes
    assert attributes["webhook-type"] == "task.succeeded"
    assert (attributes["state"], attributes["kind"]) == ("succeeded", "image_to_video")
    # Made through the API: signed with its own secret.
    [message] = wait_for(lambda: made.messages() or None)
    wanted = ("webhook-id", "webhook-timestamp", "webhook-signature")
    verifier = Webhook(created.json()["secret"])
    event = verifier.verify(message.data, {k: message.attributes[k] for k in wanted})
    assert event == expected and message.ordering_key == task["id"]

    def settled() -> dict[str, dict[str, Any]] | None:
        rows = _rows(relay, task["id"])
        done = all(rows.get(n, {}).get("state") == "succeeded" for n in ("pubsub", "pubsub-api"))
        return rows if done and rows.get("no-topic", {}).get("last_error") else None

    said = wait_for(settled)["no-topic"]["last_error"]
    assert said.startswith("not delivered: HTTP 404 NOT_FOUND: "), said
    # An address that names no topic is refused, saying what one is.
    bad = relay.api.post(
        "/v1/downstreams", json={**COMMON, "name": "bad", "url": "pubsub://my-project/events"}
    )
    assert bad.status_code == 422
    assert "pubsub://projects/PROJECT/topics/TOPIC" in bad.json()["detail"], bad.text


def test_a_pubsub_downstream_from_the_api_reaches_no_private_emulator(
    make_relay: MakeRelay, pubsub_emulator: Emulator
) -> None:
    topic = PubsubTopic(pubsub_emulator)
    relay = make_relay(
        env={"PUBSUB_EMULATOR_HOST": pubsub_emulator.host},
        delivery={"allow_private_networks": False},
    )
    created = relay.api.post("/v1/downstreams", json={**COMMON, "name": "api", "url": topic.url})
    assert created.status_code == 201, created.text
    task = relay.submitted(**image_to_video())
    row = wait_for(lambda: _rows(relay, task["id"]).get("api", {}).get("last_error") or None)
    assert row.startswith("refused: PUBSUB_EMULATOR_HOST: 127.0.0.1"), row
    assert topic.messages() == []
