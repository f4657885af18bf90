"""Google Pub/Sub against Google's emulator on loopback (tests/pubsub.py), which the relay
reaches as Google's clients do, through PUBSUB_EMULATOR_HOST: a subscriber pulls exactly the
document a webhook receiver gets, signed, with the Standard Webhooks attributes and the task
id as ordering key; a topic Pub/Sub does not have is a failure, never delivered; a URL that
names no topic is a 422 in words; and a downstream from the API meets the address guard."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from standardwebhooks import Webhook

from receiver.destinations import pubsub
from receiver.destinations.publishing import BrokerMessage, BrokerTarget, ServerJudge
from receiver.kernel.errors import DownstreamError
from receiver.kernel.net import guard
from tests.brokers import unique
from tests.conftest import MakeRelay, webhook
from tests.e2e.test_brokers import signed
from tests.harness import Relay, Sink, image_to_video, wait_for
from tests.pubsub import PROJECT, Emulator, PubsubTopic
from tests.testkit import free_port

# One worker takes them all: one emulator (a Java process) for the run, not one a worker.
pytestmark = pytest.mark.xdist_group("pubsub-emulator")
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
    by_cli = PubsubTopic(pubsub_emulator)
    argv = ["downstreams", "create", "pubsub-cli", by_cli.url, "--format", "pubsub"]
    made_by_cli = relay.cli(*argv)
    assert made_by_cli.returncode == 0, made_by_cli.stderr
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
    [message] = wait_for(lambda: by_cli.messages() or None)
    assert message.ordering_key == task["id"]

    def settled() -> dict[str, dict[str, Any]] | None:
        rows = _rows(relay, task["id"])
        made = ("pubsub", "pubsub-api", "pubsub-cli")
        done = all(rows.get(n, {}).get("state") == "succeeded" for n in made)
        return rows if done and rows.get("no-topic", {}).get("last_error") else None

    said = wait_for(settled)["no-topic"]["last_error"]
    # Read as it is retried, or once it went dead ("gave up after 4 attempts; last: ...").
    assert "not delivered: HTTP 404 NOT_FOUND: " in said, said
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


def test_a_service_accounts_token_goes_with_each_publish(
    pubsub_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The way to Google's own endpoint, in process: Application Default Credentials from
    the key file GOOGLE_APPLICATION_CREDENTIALS names, a token from its token endpoint
    fetched through the publisher's session and reused. Google's token endpoint and Pub/Sub
    are one server on loopback here, which hands each publish on to the emulator."""
    topic = PubsubTopic(pubsub_emulator, shaped=True)  # its messages are no events
    seen: dict[str, list[str]] = {"grants": [], "authorizations": []}

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        seen["grants"].append(str(form["grant_type"]))
        assert str(form["assertion"]).count(".") == 2  # a JWT the key signed
        return web.json_response({"access_token": "ya29.relay-test", "expires_in": 3600})

    async def publish(request: web.Request) -> web.Response:
        seen["authorizations"].append(request.headers.get("Authorization", ""))
        async with httpx.AsyncClient() as client:
            url = f"{pubsub_emulator.url}{request.path}"
            answer = await client.post(url, content=await request.read())
        return web.Response(status=answer.status_code, body=answer.content)

    async def run(judge: ServerJudge | None) -> str | None:
        app = web.Application()
        app.router.add_post("/token", token)
        app.router.add_post("/v1/{path:.+}", publish)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        key = _service_account(tmp_path, f"http://127.0.0.1:{port}/token")
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
        monkeypatch.setattr(pubsub, "ENDPOINT", f"http://127.0.0.1:{port}")
        publisher = pubsub.PROVIDER.open_publisher(
            BrokerTarget("pubsub", topic.url, topic.topic, timeout=5.0, judge=judge), "q", 2
        )
        try:
            for n in range(2):
                event = {"task_id": f"tsk_{n}", "state": "succeeded", "kind": "image_to_video"}
                await publisher.publish(BrokerMessage(b"{}", {"webhook-id": f"msg_{n}"}, "", event))
        except DownstreamError as exc:
            return exc.detail
        finally:
            await publisher.close()
            await runner.cleanup()
        return None

    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    assert asyncio.run(run(None)) is None
    assert seen["grants"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]  # once, reused
    assert seen["authorizations"] == ["Bearer ya29.relay-test"] * 2
    pulled = wait_for(lambda: len(topic.messages()) == 2 and topic.messages())
    assert [(m.attributes["webhook-id"], m.ordering_key) for m in pulled] == [
        ("msg_0", "tsk_0"),
        ("msg_1", "tsk_1"),
    ]

    async def public_only(host: str, port: int) -> None:
        await guard.check_resolved(host)

    # A downstream from the API: the token endpoint on a private address is refused.
    said = asyncio.run(run(public_only))
    assert said is not None and said.startswith("refused: the token endpoint: 127.0.0.1"), said
    assert len(seen["grants"]) == 1


def _service_account(where: Path, token_uri: str) -> Path:
    """A service account's key file, as Google's console gives one, with a key of its own."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = where / "service-account.json"
    account = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "relay-test-key",
        "private_key": pem.decode(),
        "client_email": f"relay@{PROJECT}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }
    path.write_text(json.dumps(account))
    return path
