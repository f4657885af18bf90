"""A task's own webhook is signed with its app's own keys, on both backends: app A, pointing
its task's webhook at app B's receiver with metadata that reads like B's order, gets a body
B's secret does not verify; A's secret (`GET /v1/webhooks/default/secret`) and A's ed25519
key (in A's JWKS, not B's) do. A rotation signs with both pairs during its overlap; the
relay-wide secret signs the operator's own tasks only. Checked with the official Standard
Webhooks library (`v1`) and `cryptography` (`v1a`, which the library does not verify)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks import Webhook, WebhookVerificationError

from tests.conftest import MakeRelay
from tests.e2e.test_apps import app_key, make_app
from tests.e2e.test_keys import as_key
from tests.e2e.test_message_signatures import published
from tests.harness import TASK_HOOK_SECRET, Relay, Sink, image_to_video, settled, wait_for

SCOPES = ["tasks:submit", "tasks:read", "downstreams"]
SECRET = "/v1/webhooks/default/secret"


def _app(relay: Relay, name: str, scopes: list[str] = SCOPES) -> httpx.Client:
    make_app(relay, name)
    return as_key(relay, app_key(relay, name, f"{name}-key", scopes))


def _secret(client: httpx.Client) -> dict[str, Any]:
    answer = client.get(SECRET)
    assert answer.status_code == 200, answer.text
    shown = dict(answer.json())
    assert shown["key"].startswith("whsec_") and shown["public_key"].startswith("whpk_")
    return shown


def _webhook_hit(relay: Relay, client: httpx.Client, sink: Sink, path: str) -> dict[str, Any]:
    """The one delivery of a task `client` submits with its webhook at `path`."""
    answer = client.post(
        "/v1/tasks",
        json={
            **image_to_video(),
            "webhook": f"{sink.url}{path}",
            "webhook_events": ["succeeded"],
            "metadata": {"order_id": "B-1002", "paid": True},
        },
    )
    assert answer.status_code == 202, answer.text
    relay.wait_task(answer.json()["id"], settled)
    [hit] = wait_for(lambda: sink.accepted(path) or None)
    return hit


def _verifies(secret: str, hit: dict[str, Any]) -> bool:
    try:
        Webhook(secret).verify(hit["body"], hit["headers"])
    except WebhookVerificationError:
        return False
    return True


def _ed25519_verifies(key: Ed25519PublicKey, hit: dict[str, Any]) -> bool:
    """Whether any `v1a` signature of `hit` is `key`'s, over `{id}.{timestamp}.{body}`."""
    headers = hit["headers"]
    body = hit["body"] if isinstance(hit["body"], bytes) else hit["body"].encode()
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    for each in headers["webhook-signature"].split():
        version, _, signature = each.partition(",")
        if version != "v1a":
            continue
        try:
            key.verify(base64.b64decode(signature), signed)
        except InvalidSignature:
            continue
        return True
    return False


@pytest.mark.every_backend
def test_an_apps_task_webhook_verifies_with_its_own_keys_only(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay()
    alpha, beta = _app(relay, "alpha"), _app(relay, "beta")
    theirs = _secret(beta)
    # A, with a key that only submits, aims its task's webhook at B's receiver.
    submitter = as_key(relay, app_key(relay, "alpha", "alpha-submit", ["tasks:submit"]))
    hit = _webhook_hit(relay, submitter, sink, "/beta-orders")
    assert json.loads(hit["body"])["data"]["metadata"] == {"order_id": "B-1002", "paid": True}
    assert not _verifies(theirs["key"], hit)
    assert not _verifies(TASK_HOOK_SECRET, hit)
    mine = _secret(alpha)
    assert mine["key"] != theirs["key"] and mine == _secret(submitter)
    assert _verifies(mine["key"], hit)
    assert mine["previous_key_until"] is None

    # Its ed25519 key is in A's JWKS, and signs `v1a`; B's set holds none of A's.
    alpha_keys = published(relay, "/.well-known/jwks/alpha.json")
    beta_keys = published(relay, "/.well-known/jwks/beta.json")
    assert list(alpha_keys) == [mine["key_id"]]
    assert list(beta_keys) == [theirs["key_id"]]
    assert _ed25519_verifies(alpha_keys[mine["key_id"]], hit)
    assert not _ed25519_verifies(beta_keys[theirs["key_id"]], hit)

    # Its delivery is the app's own, under the name it knows.
    [delivery] = alpha.get("/v1/deliveries", params={"downstream": "task-webhook"}).json()[
        "deliveries"
    ]
    assert delivery["state"] == "succeeded"
    assert beta.get("/v1/deliveries").json()["deliveries"] == []

    # The operator's own task: the relay-wide secret, no app's.
    hit = _webhook_hit(relay, relay.api, sink, "/operator")
    assert _verifies(TASK_HOOK_SECRET, hit)
    assert not _verifies(mine["key"], hit) and not _verifies(theirs["key"], hit)


@pytest.mark.every_backend
def test_a_rotation_signs_with_both_secrets_until_its_overlap_ends(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay()
    alpha = _app(relay, "alpha")
    old = _secret(alpha)
    before = time.time()
    answer = alpha.post(f"{SECRET}/rotate")
    assert answer.status_code == 200, answer.text
    new = answer.json()
    assert new["key"] != old["key"] and new["key_id"] != old["key_id"]
    # 24 h by default (delivery.rotation_overlap_seconds).
    assert new["previous_key_until"] >= before + 24 * 3600 - 60
    assert _secret(alpha) == new

    hit = _webhook_hit(relay, alpha, sink, "/alpha-orders")
    assert _verifies(old["key"], hit) and _verifies(new["key"], hit)
    keys = published(relay, "/.well-known/jwks/alpha.json")
    assert sorted(keys) == sorted([old["key_id"], new["key_id"]])
    assert all(_ed25519_verifies(key, hit) for key in keys.values())


def test_the_secret_is_an_apps_own_and_says_why_not(make_relay: MakeRelay) -> None:
    relay = make_relay()
    refused = relay.api.get(SECRET)
    assert refused.status_code == 422
    assert "RECEIVER_WEBHOOK_SECRET" in refused.json()["detail"]
    assert relay.api.post(f"{SECRET}/rotate").status_code == 422
    reader = _app(relay, "reader", ["tasks:read"])
    assert reader.get(SECRET).status_code == 403
    submitter = _app(relay, "submitter", ["tasks:submit"])
    assert submitter.get(SECRET).status_code == 200
    assert submitter.post(f"{SECRET}/rotate").status_code == 403
