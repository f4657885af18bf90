"""Outbound signatures verify with the official Standard Webhooks library, given the
configured secret string as is; a secret that could not work stops start-up. ed25519
(`v1a`) signatures verify with `cryptography` as the spec's text says (the official
libraries do not verify `v1a` yet)."""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks import Webhook

from receiver.config import parse_settings, resolve
from receiver.kernel.errors import ConfigError
from receiver.kernel.secrets import signing as sign
from tests.conftest import MakeRelay, relay_env
from tests.harness import (
    SEEN_RUNNING,
    Simulator,
    Sink,
    image_to_video,
    settled,
    video2video,
    wait_for,
)

KEY = os.urandom(24)
PADDED = "whsec_" + base64.b64encode(KEY).decode()
UNPADDED = "whsec_" + base64.b64encode(os.urandom(25)).decode().rstrip("=")


@pytest.mark.parametrize(
    "secret", [PADDED, UNPADDED, sign.new_secret()], ids=["padded", "unpadded", "new"]
)
def test_signatures_verify_with_the_official_library(secret: str) -> None:
    body = json.dumps({"type": "task.succeeded", "data": {"x": "ü"}}).encode()
    headers = sign.headers([secret], "msg_1", int(time.time()), body)
    assert Webhook(secret).verify(body, headers) == json.loads(body)


def test_both_signatures_of_an_overlap_verify_with_either_secret() -> None:
    new, old = sign.new_secret(), sign.new_secret()
    body = b'{"type":"task.succeeded"}'
    headers = sign.headers([new, old], "msg_2", int(time.time()), body)
    assert headers["webhook-signature"].count(" ") == 1
    for secret in (new, old):
        assert Webhook(secret).verify(body, headers) == json.loads(body)


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("a-plain-string-secret-of-some-length", "must be whsec_ followed by base64"),
        ("whsec_", "must be standard base64"),
        ("whsec_" + base64.urlsafe_b64encode(b"\xff" * 24).decode(), "standard base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "at least 16 bytes"),
        ("whsec_abc=d", "standard base64"),
        # Fixed keys: xdist's workers must collect the same ids.
        ("whsk_" + base64.b64encode(bytes(range(16))).decode(), "an ed25519 key is 32 bytes"),
        (
            "whsk_" + base64.b64encode(bytes(range(32))).decode(),
            "signing is hmac: the secret in S must be whsec_",
        ),
    ],
)
def test_a_secret_that_cannot_work_stops_start_up_with_one_line(secret: str, why: str) -> None:
    settings = parse_settings(
        {"downstream": [{"name": "d", "url": "http://127.0.0.1:9/", "secret_env": "S"}]}
    )
    with pytest.raises(ConfigError) as caught:
        resolve(settings, relay_env(S=secret))
    message = str(caught.value)
    assert why in message and "receiver secret" in message and "\n" not in message
    assert secret not in message or secret == "whsec_"


def test_every_delivery_verifies_with_the_configured_unpadded_secret(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
) -> None:
    relay = make_relay(
        [
            {
                "name": "hook",
                "url": f"{sink.url}/hook",
                "secret_env": "UNPADDED_SECRET",
                "events": ["running", "succeeded"],
                "timeout": 2.0,
            }
        ],
        env={"UNPADDED_SECRET": UNPADDED},
    )
    sim.faults(progress_callbacks=True)
    relay.submit(**video2video(prompt=SEEN_RUNNING))
    hits = wait_for(lambda: len(sink.received("/hook")) >= 2 and sink.received("/hook"))
    verifier = Webhook(UNPADDED)
    for hit in hits:
        verifier.verify(hit["body"].encode(), hit["headers"])


def v1a_verifies(public_key: str, hit: dict[str, Any]) -> bool:
    """The spec's text: any `v1a,` signature over `{id}.{timestamp}.{body}` that the
    `whpk_` key verifies."""
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key.removeprefix("whpk_")))
    headers = hit["headers"]
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{hit['body']}".encode()
    for signature in headers["webhook-signature"].split(" "):
        version, _, value = signature.partition(",")
        if version == "v1a":
            try:
                key.verify(base64.b64decode(value), signed)
                return True
            except InvalidSignature:
                continue
    return False


def test_ed25519_from_the_config_file_signs_downstreams_and_tasks_webhooks(
    make_relay: MakeRelay, sink: Sink
) -> None:
    downstream, task_hook = sign.new_secret("ed25519"), sign.new_secret("ed25519")
    hook = {"name": "keyed", "url": f"{sink.url}/keyed", "secret_env": "KEYED", "timeout": 2.0}
    relay = make_relay(
        [{**hook, "signing": "ed25519"}],
        env={"KEYED": downstream, "RECEIVER_WEBHOOK_SECRET": task_hook},
    )
    shown = relay.api.get("/v1/downstreams/keyed").json()
    assert shown["signing"] == "ed25519" and shown["public_key"] == sign.public_key(downstream)
    relay.submitted(**image_to_video(), webhook=f"{sink.url}/own")
    [hit] = wait_for(lambda: sink.accepted("/keyed") or None)
    [own] = wait_for(lambda: sink.accepted("/own") or None)
    assert hit["headers"]["webhook-signature"].startswith("v1a,")
    assert v1a_verifies(shown["public_key"], hit)
    assert v1a_verifies(str(sign.public_key(task_hook)), own)
    assert not v1a_verifies(str(sign.public_key(task_hook)), hit)
    assert downstream not in relay.log() and task_hook not in relay.log()


def test_ed25519_through_the_api_signs_rotates_and_tests(make_relay: MakeRelay, sink: Sink) -> None:
    relay = make_relay()
    answer = relay.api.post(
        "/v1/downstreams", json={"name": "keyed", "url": f"{sink.url}/keyed", "signing": "ed25519"}
    )
    assert answer.status_code == 201, answer.text
    made = answer.json()
    # The private key never leaves the relay: the answer shows its public key only.
    assert made["secret"] is None and "whsk_" not in answer.text
    assert made["public_key"].startswith("whpk_")
    shown = relay.api.get("/v1/downstreams/keyed").json()
    assert shown["signing"] == "ed25519" and shown["public_key"] == made["public_key"]

    sent = relay.api.post("/v1/downstreams/keyed/test", json={"type": "task.succeeded"})
    assert sent.status_code == 200 and sent.json()["status"] == 200, sent.text
    [tested] = wait_for(lambda: sink.accepted("/keyed") or None)
    assert v1a_verifies(made["public_key"], tested)

    # HMAC to ed25519: the change takes effect at the rotation, and for the overlap the old
    # HMAC secret signs beside the new key.
    old = relay.api.post("/v1/downstreams", json={"name": "moving", "url": f"{sink.url}/moving"})
    assert old.json()["public_key"] is None and old.json()["signing"] == "hmac"
    changed = relay.api.patch("/v1/downstreams/moving", json={"signing": "ed25519"})
    assert changed.status_code == 200, changed.text
    rotation = relay.api.post("/v1/downstreams/moving/rotate-secret")
    rotated = rotation.json()
    assert rotated["secret"] is None and "whsk_" not in rotation.text
    assert rotated["public_key"].startswith("whpk_")
    assert relay.api.get("/v1/downstreams/moving").json()["public_key"] == rotated["public_key"]
    relay.wait_task(relay.submitted(**image_to_video())["id"], settled)
    [hit] = wait_for(lambda: sink.accepted("/moving") or None)
    assert v1a_verifies(rotated["public_key"], hit)
    assert Webhook(old.json()["secret"]).verify(hit["body"], hit["headers"])
    assert "whsk_" not in relay.log()
