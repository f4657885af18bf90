"""Filters, transforms and static headers end to end: per downstream from the config file
and the API, on a task's own webhook and on a broker; a failing filter is `filtered` with
its reason and counted; header values are sealed and never shown; the preview; the event
catalog (every event received here validates against its type's schema) and the AsyncAPI
document read by the official parser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from standardwebhooks import Webhook

from receiver.catalog.events import schema
from tests.brokers import RedisStream
from tests.conftest import MakeRelay, webhook
from tests.e2e.test_config import assert_one_line, base_settings, clean_env, serve
from tests.e2e.test_managed_downstreams import stored_bytes
from tests.harness import (
    ADMIN_TOKEN,
    SEEN_RUNNING,
    TASK_HOOK_SECRET,
    WEBHOOK_SECRET,
    Relay,
    Sink,
    image_to_video,
    metric,
    settled,
    wait_for,
)
from tests.testkit import to_toml

PARSER = Path(__file__).parents[1] / "asyncapi_node"
LINEAR_KEY = "lin_api_" + "9f8e7d6c5b4a39281706f5e4"
GOLD = 'has(event.data.metadata.tier) && event.data.metadata.tier == "gold"'


def assert_valid_events(relay: Relay, bodies: list[dict[str, Any]]) -> None:
    """Each event against its type's schema from GET /v1/event-types."""
    listed = relay.api.get("/v1/event-types").json()["event_types"]
    schemas = {entry["type"]: entry["schema"] for entry in listed}
    assert bodies
    for body in bodies:
        jsonschema.validate(body, schemas[body["type"]])


def deliveries(relay: Relay, task_id: str) -> dict[str, dict[str, Any]]:
    found = relay.api.get("/v1/deliveries", params={"task_id": task_id}).json()["deliveries"]
    return {d["downstream"]: d for d in found if d["state"] != "pending"}


def test_a_filter_picks_a_transform_shapes_and_headers_go_with_each_delivery(
    make_relay: MakeRelay, sink: Sink
) -> None:
    linear = {
        "transform": '{"body": {"title": "Render " + event.data.state + ": " + event.data.task_id},'
        ' "method": "PUT", "path": "/issues/" + event.data.task_id,'
        ' "headers": {"x-kind": event.data.kind}}',
        "headers_env": {"Authorization": "LINEAR_KEY"},
        "headers": {"x-team": "render"},
    }
    relay = make_relay(
        [
            webhook(sink, "gold", filter=GOLD),
            webhook(sink, "linear", **linear),
            webhook(sink, "broken", filter="event.data.metadata.nope == 1"),
        ],
        env={"LINEAR_KEY": f"Bearer {LINEAR_KEY}"},
    )
    gold = relay.submitted(**image_to_video(), metadata={"tier": "gold"})
    silver = relay.submitted(**image_to_video(), metadata={"tier": "silver"})
    for task in (gold, silver):
        relay.wait_task(task["id"], settled)
        wait_for(lambda t=task: len(deliveries(relay, t["id"])) == 3)

    [hit] = sink.accepted("/gold")
    event = Webhook(WEBHOOK_SECRET).verify(hit["body"], hit["headers"])
    assert event["data"]["task_id"] == gold["id"]
    for task, state in ((gold, "succeeded"), (silver, "filtered")):
        assert deliveries(relay, task["id"])["gold"]["state"] == state
    refused = deliveries(relay, silver["id"])["gold"]
    assert refused["last_error"] == "filter refused the event"

    issues = {h["path"]: h for h in sink.accepted() if h["path"].startswith("/linear/")}
    sent = issues[f"/linear/issues/{gold['id']}"]
    assert sent["method"] == "PUT" and sent["json"] == {"title": f"Render succeeded: {gold['id']}"}
    # Signed over the body as sent, with the static, the secret and the transform's headers.
    Webhook(WEBHOOK_SECRET).verify(sent["body"], sent["headers"])
    assert sent["headers"]["authorization"] == f"Bearer {LINEAR_KEY}"
    assert sent["headers"]["x-team"] == "render"
    assert sent["headers"]["x-kind"] == "image_to_video"

    for task in (gold, silver):
        broken = deliveries(relay, task["id"])["broken"]
        assert broken["state"] == "filtered"
        assert broken["last_error"] == "filter failed: no field 'nope'"
    text = relay.scrape()
    assert metric(text, "relay_deliveries_filtered_total", downstream="gold", failed="false") == 1
    assert metric(text, "relay_deliveries_filtered_total", downstream="broken", failed="true") == 2
    # A filter that fails at run time shows on its downstream, counted, with the last reason;
    # one that answered false is no failure.
    failing = relay.api.get("/v1/downstreams/broken").json()
    assert failing["filter_failures"] == 2 and failing["filter_failed_at"] is not None
    assert failing["filter_failure"] == "filter failed: no field 'nope'"
    assert relay.api.get("/v1/downstreams/gold").json()["filter_failures"] == 0
    page = relay.console().get("/console/deliveries?downstream=broken").text  # its card
    said = page.split('id="filter-failures-broken"', 1)[1].split("</p>", 1)[0]
    assert "failed on <b>2</b> events" in said and "no field &#39;nope&#39;" in said
    shown = relay.api.get("/v1/downstreams/linear").json()
    assert shown["headers"] == {"x-team": "***", "Authorization": "***"}
    assert shown["transform"] == linear["transform"]
    assert LINEAR_KEY not in relay.log()
    assert_valid_events(relay, [json.loads(h["body"]) for h in sink.accepted("/gold")])


def test_through_the_api_headers_are_sealed_and_bad_expressions_are_422(
    make_relay: MakeRelay, sink: Sink, storage_url: str, tmp_path: Path
) -> None:
    relay = make_relay()
    made = relay.api.post(
        "/v1/downstreams",
        json={
            "name": "crm",
            "url": f"{sink.url}/crm",
            "filter": 'event.data.state == "succeeded"',
            "transform": '{"task": event.data.task_id, "video": event.data.outputs[0]}',
            "headers": {"Authorization": f"Bearer {LINEAR_KEY}"},
        },
    )
    assert made.status_code == 201, made.text
    assert made.json()["headers"] == {"Authorization": "***"} and LINEAR_KEY not in made.text
    assert LINEAR_KEY.encode() not in stored_bytes(storage_url, tmp_path)
    task = relay.submitted(**image_to_video())
    [hit] = wait_for(lambda: sink.accepted("/crm") or None)
    assert hit["json"]["task"] == task["id"] and hit["json"]["video"].startswith("http")
    assert hit["headers"]["authorization"] == f"Bearer {LINEAR_KEY}"
    Webhook(made.json()["secret"]).verify(hit["body"], hit["headers"])

    # A change of the filter alone keeps the headers (sealed, still sent).
    changed = relay.api.patch("/v1/downstreams/crm", json={"filter": "1 +"})
    assert changed.status_code == 422
    detail = changed.json()["detail"]
    assert "downstream 'crm'" in detail and "filter is not valid CEL" in detail
    assert detail.endswith("at 1:4: the expression ends after `+`, where a value should follow")
    big = relay.api.patch("/v1/downstreams/crm", json={"transform": "{}" + " " * 4096})
    assert big.status_code == 422 and "over 4096" in big.json()["detail"]
    chat = relay.api.post(
        "/v1/downstreams",
        json={
            "name": "chat",
            "format": "slack",
            "url": "https://hooks.slack.com/x",
            "transform": "{}",
        },
    )
    assert chat.status_code == 422 and "takes a filter only" in chat.json()["detail"]
    listed = relay.api.get("/v1/downstreams").text
    assert LINEAR_KEY not in listed and LINEAR_KEY not in relay.log()

    # The command line takes them too.
    argv = ["downstreams", "create", "cli", f"{sink.url}/cli", "--filter", "event.data.point > 0"]
    argv += ["--header", "x-team=render", "--transform", '{"id": event.data.task_id}']
    made_by_cli = relay.cli(*argv)
    assert made_by_cli.returncode == 0, made_by_cli.stderr
    shown = relay.api.get("/v1/downstreams/cli").json()
    assert shown["filter"] == "event.data.point > 0" and shown["headers"] == {"x-team": "***"}
    refused = relay.cli("downstreams", "change", "cli", "--filter", "(")
    assert refused.returncode != 0 and "filter is not valid CEL" in refused.stderr


def test_a_tasks_own_webhook_carries_its_filter(make_relay: MakeRelay, sink: Sink) -> None:
    relay = make_relay()
    wanted = relay.submitted(
        **image_to_video(promptText=SEEN_RUNNING),
        webhook=f"{sink.url}/mine",
        webhook_filter='event.data.state == "succeeded"',
        webhook_events=["running", "succeeded"],
    )
    relay.wait_task(wanted["id"], settled)
    [hit] = wait_for(lambda: sink.accepted("/mine") or None)
    assert Webhook(TASK_HOOK_SECRET).verify(hit["body"], hit["headers"])["type"] == "task.succeeded"

    def states() -> list[tuple[str, str | None]] | None:
        found = relay.api.get("/v1/deliveries", params={"task_id": wanted["id"]}).json()
        ended = sorted((d["state"], d["last_error"]) for d in found["deliveries"])
        return ended if len(ended) == 2 and ("pending", None) not in ended else None

    # The running event was not taken: filtered, with the reason, and never sent.
    assert wait_for(states) == [("filtered", "filter refused the event"), ("succeeded", None)]
    bad = relay.submit(**image_to_video(), webhook=f"{sink.url}/x", webhook_filter="(")
    assert bad.status_code == 422 and "webhook_filter" in bad.text


def test_a_broker_message_is_transformed_and_signed_over_what_is_sent(
    make_relay: MakeRelay, sink: Sink
) -> None:
    redis = RedisStream(shaped=True)  # a transform makes each body
    try:
        relay = make_relay(
            [
                {
                    "name": "audit",
                    "format": "redis",
                    "url": "redis://127.0.0.1:6379/0",
                    "stream": redis.name,
                    "timeout": 2.0,
                    "secret_env": "HOOK_SECRET",
                    "transform": '{"task": event.data.task_id, "state": event.data.state}',
                    "headers": {"x-source": "relay"},
                }
            ]
        )
        task = relay.submitted(**image_to_video())
        [(fields, body)] = wait_for(lambda: redis.messages() or None)
        wanted = ("webhook-id", "webhook-timestamp", "webhook-signature")
        verified = Webhook(WEBHOOK_SECRET).verify(body, {k: fields[k] for k in wanted})
        assert verified == {"task": task["id"], "state": "succeeded"}
        assert fields["x-source"] == "relay" and fields["webhook-type"] == "task.succeeded"
    finally:
        redis.delete()


def test_the_preview_says_whether_it_matches_and_what_would_go(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay([webhook(sink)])
    asked = {
        "filter": GOLD,
        "transform": '{"body": {"id": event.data.task_id}, "path": "/x"}',
        "headers": {"Authorization": f"Bearer {LINEAR_KEY}"},
        "type": "task.failed",
    }
    answer = relay.api.post("/v1/downstreams/preview", json=asked)
    assert answer.status_code == 200, answer.text
    previewed = answer.json()
    # An example carries no metadata: a gold filter does not match what real events lack.
    assert previewed["matched"] is False and previewed["event"]["type"] == "task.failed"
    request = previewed["request"]
    assert request["body"] == {"id": "tsk_example"} and request["path"] == "/x"
    assert request["headers"]["Authorization"] == "***" and LINEAR_KEY not in answer.text

    task = relay.submitted(**image_to_video(), metadata={"tier": "silver"})
    relay.wait_task(task["id"], settled)
    on_task = relay.api.post(
        "/v1/downstreams/preview", json={"filter": GOLD, "task_id": task["id"]}
    )
    assert on_task.json()["matched"] is False
    assert on_task.json()["reason"] == "filter refused the event"
    chat = relay.api.post(
        "/v1/downstreams/preview", json={"format": "slack", "type": "task.succeeded"}
    )
    assert chat.status_code == 200 and "blocks" in chat.json()["request"]["body"]
    bad = relay.api.post("/v1/downstreams/preview", json={"filter": "1 +"})
    assert bad.status_code == 422 and "at 1:4: the expression ends after `+`" in bad.text
    gone = relay.api.post("/v1/downstreams/preview", json={"task_id": "tsk_nothere"})
    assert gone.status_code == 404


def test_the_event_catalog_and_the_asyncapi_document(make_relay: MakeRelay, sink: Sink) -> None:
    relay = make_relay(
        [
            webhook(sink),
            {
                "name": "bus.main",
                "format": "nats",
                "url": "nats://127.0.0.1:4222",
                "subject": "runway.{state}.{kind}",
                "timeout": 2.0,
            },
            {
                "name": "log",
                "format": "kafka",
                "url": "kafka://u:pw@127.0.0.1:9,127.0.0.2:9/runway.events",
                "idempotent": False,
                "timeout": 2.0,
            },
            {
                "name": "events",
                "format": "pubsub",
                "url": "pubsub://projects/acme-relay/topics/runway-events",
                "timeout": 2.0,
            },
        ]
    )
    listed = relay.api.get("/v1/event-types").json()["event_types"]
    assert [entry["type"] for entry in listed] == [
        "task.queued",
        "task.running",
        "task.progress",
        "task.succeeded",
        "task.failed",
        "task.cancelled",
        "downstream.disabled",
        "endpoint.failing",
        "endpoint.recovered",
        "endpoint.disabled",
        "relay.test",
    ]
    for entry in listed:
        jsonschema.validate(entry["example"], entry["schema"])
        # The schema every broker's and AWS service's message in these tests is checked
        # against as it is read (tests/event_schemas.py) is the one served here.
        assert entry["schema"] == schema(entry["type"]), entry["type"]
    document = relay.api.get("/asyncapi.json")
    assert document.status_code == 200
    channels = document.json()["channels"]
    assert channels["downstream-bus_main"]["address"] == "runway.{state}.{kind}"
    assert set(channels["downstream-bus_main"]["parameters"]) == {"state", "kind"}
    # Kafka's topic is its URL's; its binding says so, and its server shows no credential.
    assert channels["downstream-log"]["address"] == "runway.events"
    assert channels["downstream-log"]["bindings"]["kafka"]["topic"] == "runway.events"
    server = document.json()["servers"]["downstream-log"]
    assert (server["host"], server["protocol"]) == ("127.0.0.1:9", "kafka")
    # Pub/Sub's topic is its URL's resource name, on Google's endpoint.
    assert channels["downstream-events"]["address"] == "projects/acme-relay/topics/runway-events"
    assert "bindings" not in channels["downstream-events"]  # Pub/Sub's would need its schema
    server = document.json()["servers"]["downstream-events"]
    assert (server["host"], server["protocol"]) == ("pubsub.googleapis.com", "googlepubsub")
    # The broker channel's messages: one per event type, whose payload schema (read within
    # the document) takes the catalog's example and refuses it broken.
    components = document.json()["components"]
    offered = channels["downstream-bus_main"]["messages"].values()
    by_type = {
        components["messages"][ref["$ref"].rsplit("/", 1)[1]]["name"]: ref for ref in offered
    }
    assert set(by_type) == {entry["type"] for entry in listed}
    for entry in listed:
        message = components["messages"][by_type[entry["type"]]["$ref"].rsplit("/", 1)[1]]
        payload = {**message["payload"], "components": components}
        jsonschema.validate(entry["example"], payload)
        broken = {**entry["example"], "data": {**entry["example"]["data"], "task_id": 7}}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, payload)
    assert (
        relay.api.get("/asyncapi.json", headers={"Authorization": "Bearer nope"}).status_code == 401
    )
    if shutil.which("node") is None or not (PARSER / "node_modules/@asyncapi/parser").is_dir():
        pytest.skip(
            "no Node.js, or the parser is not installed (npm ci --prefix tests/asyncapi_node)"
        )
    parsed = subprocess.run(
        ["node", "parse.mjs"],
        cwd=PARSER,
        input=document.text,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"]},
    )
    assert parsed.returncode == 0, parsed.stdout[-2000:] + parsed.stderr[-2000:]
    summary = json.loads(parsed.stdout)
    assert not [d for d in summary["diagnostics"] if d["severity"] <= 1], summary["diagnostics"]
    assert summary["document"]["channels"] == [
        "webhook",
        "downstream-bus_main",
        "downstream-events",
        "downstream-log",
    ]
    # The task's six states, progress, the disabled notice and the three operator alerts.
    assert len(summary["document"]["messages"]) == 11
    assert ADMIN_TOKEN not in document.text


def test_a_bad_filter_in_the_config_file_is_one_start_up_line(tmp_path: Path) -> None:
    settings = base_settings(tmp_path)
    hook = {"name": "crm", "url": "https://hooks.example.com/crm", "filter": "event.type =="}
    settings["downstream"] = [hook]
    path = tmp_path / "relay.toml"
    path.write_text(to_toml(settings))
    result = serve(["--config", str(path)], clean_env(), tmp_path)
    assert_one_line(result, "downstream 'crm': filter is not valid CEL", "at 1:14")
