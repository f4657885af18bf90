"""Each app's RFC 9421 keys in a set of its own, on both backends: an app's receiver fetches
/.well-known/jwks/{app}.json and trusts no other app's key, so that app B, pointing a
downstream of its own at app A's receiver with a transform that tells of A's task, cannot
pass for the relay speaking of A's task; /.well-known/jwks.json holds the operator's own
downstreams' keys only; no answer, page or command line shows a `whsk_` private key."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from http_message_signatures import InvalidSignature

from receiver.kernel.secrets import signing as sign
from tests.conftest import MakeRelay
from tests.e2e.test_apps import app_key, make_app
from tests.e2e.test_keys import as_key
from tests.e2e.test_message_signatures import PRIVATE_KEY, key_ids, published, verify
from tests.harness import Relay, Sink, image_to_video, settled, wait_for

SCOPES = ["tasks:submit", "tasks:read", "downstreams"]


def _app(relay: Relay, name: str) -> httpx.Client:
    make_app(relay, name)
    return as_key(relay, app_key(relay, name, f"{name}-key", SCOPES))


def _made(client: httpx.Client, **settings: Any) -> dict[str, Any]:
    answer = client.post("/v1/downstreams", json=settings)
    assert answer.status_code == 201, answer.text
    assert not PRIVATE_KEY.search(answer.text)
    made = dict(answer.json())
    assert made["secret"] is None and made["public_key"].startswith(sign.PUBLIC_PREFIX)
    return made


def _succeeded_for(hit: dict[str, Any]) -> str:
    """The task a delivery tells of."""
    event = json.loads(hit["body"])
    assert event["type"] == "task.succeeded"
    return str(event["data"]["task_id"])


@pytest.mark.every_backend
def test_another_apps_key_cannot_sign_as_the_relay_for_an_app(
    make_relay: MakeRelay, sink: Sink
) -> None:
    operator = {"name": "ops", "url": f"{sink.url}/ops", "secret_env": "OPS", "timeout": 2.0}
    relay = make_relay(
        [{**operator, "signing": "rfc9421", "events": ["failed"]}],
        env={"OPS": sign.new_secret("rfc9421")},
    )
    alpha, beta = _app(relay, "alpha"), _app(relay, "beta")
    mine = _made(
        alpha, name="hooks", url=f"{sink.url}/alpha", signing="rfc9421", events=["succeeded"]
    )
    task = alpha.post("/v1/tasks", json=image_to_video())
    assert task.status_code == 202, task.text
    alpha_task = task.json()["id"]
    # B's own downstream at A's receiver, its body made up to tell of A's task (its `by`
    # marks it, for the sink's check of the relay's own events, as a transform's).
    made_up = (
        '{"type": "task.succeeded", "timestamp": event.timestamp, "by": "beta",'
        ' "data": {"task_id": "%s"}}'
    )
    theirs = _made(
        beta,
        name="sneaky",
        url=f"{sink.url}/alpha",
        signing="rfc9421",
        events=["succeeded"],
        transform=made_up % alpha_task,
    )

    alpha_keys = published(relay, "/.well-known/jwks/alpha.json")
    beta_keys = published(relay, "/.well-known/jwks/beta.json")
    assert list(alpha_keys) == [mine["key_id"]]
    assert list(beta_keys) == [theirs["key_id"]]
    ops_kid = relay.api.get("/v1/downstreams/ops").json()["key_id"]
    assert list(published(relay)) == [ops_kid]  # no app's key among the operator's own

    beta_task = beta.post("/v1/tasks", json=image_to_video())
    assert beta_task.status_code == 202, beta_task.text
    for task_id in (alpha_task, beta_task.json()["id"]):
        relay.wait_task(task_id, settled)
    hits = wait_for(lambda: len(sink.accepted("/alpha")) >= 2 and sink.accepted("/alpha"))
    by_key = {key_ids(hit)["sig1"]: hit for hit in hits}
    real, forged = by_key[mine["key_id"]], by_key[theirs["key_id"]]
    assert _succeeded_for(real) == _succeeded_for(forged) == alpha_task

    # A's receiver, verifying as docs/delivery.md says with its app's set: its own relay's
    # delivery verifies, B's is refused (A's set lacks B's key).
    [verified] = verify(alpha_keys, sink, real)
    assert verified.parameters["keyid"] == mine["key_id"]
    with pytest.raises(InvalidSignature, match="Unable to resolve verification key"):
        verify(alpha_keys, sink, forged)
    # It is a good signature by B's key: one set for all (as before) would have let it in.
    assert verify(beta_keys, sink, forged)

    # A key set of no app is no such set, said in words.
    missing = relay.anon.get("/.well-known/jwks/none-such.json")
    assert missing.status_code == 404 and "no app named 'none-such'" in missing.text
    # An app with no rfc9421 downstream has an empty set.
    make_app(relay, "quiet")
    assert published(relay, "/.well-known/jwks/quiet.json") == {}


@pytest.mark.every_backend
def test_a_rotation_or_removal_changes_only_its_apps_kept_set(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay()
    alpha, beta = _app(relay, "alpha"), _app(relay, "beta")
    first = _made(alpha, name="one", url=f"{sink.url}/one", signing="rfc9421")
    second = _made(alpha, name="two", url=f"{sink.url}/two", signing="rfc9421")
    other = _made(beta, name="one", url=f"{sink.url}/b", signing="rfc9421")
    keyed = _made(alpha, name="v1a", url=f"{sink.url}/v1a", signing="ed25519")
    assert keyed["key_id"] is None  # ed25519 (`v1a`) publishes no JWK
    both = {first["key_id"], second["key_id"]}
    assert set(published(relay, "/.well-known/jwks/alpha.json")) == both
    assert list(published(relay, "/.well-known/jwks/beta.json")) == [other["key_id"]]

    rotation = alpha.post("/v1/downstreams/one/rotate-secret")
    assert rotation.status_code == 200 and not PRIVATE_KEY.search(rotation.text)
    rotated = rotation.json()
    assert rotated["secret"] is None and rotated["public_key"].startswith(sign.PUBLIC_PREFIX)
    assert set(published(relay, "/.well-known/jwks/alpha.json")) == both | {rotated["key_id"]}
    assert list(published(relay, "/.well-known/jwks/beta.json")) == [other["key_id"]]

    assert alpha.delete("/v1/downstreams/two").status_code == 200
    left = {first["key_id"], rotated["key_id"]}
    assert set(published(relay, "/.well-known/jwks/alpha.json")) == left
    assert published(relay) == {}


def test_the_portal_shows_an_apps_key_and_its_set_never_the_private_key(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay()
    render = _app(relay, "render")
    link = render.post("/v1/portal-links", json={})
    assert link.status_code == 201, link.text
    browser = httpx.Client(base_url=relay.url, timeout=15, follow_redirects=False)
    assert browser.get(link.json()["url"].removeprefix(relay.url)).status_code == 303
    page = browser.get("/portal/")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    form = {"csrf": found.group(1), "name": "signed", "url": f"{sink.url}/signed"}
    made = browser.post("/portal/endpoints", data={**form, "signing": "rfc9421"})
    assert made.status_code == 200, made.text[:2000]
    shown = render.get("/v1/downstreams/signed").json()
    assert f'id="key-id">{shown["key_id"]}<' in made.text
    assert f'id="public-key">{shown["public_key"]}<' in made.text
    assert f'id="key-set">{relay.url}/.well-known/jwks/render.json<' in made.text
    assert not PRIVATE_KEY.search(made.text) and 'id="secret-value"' not in made.text
    assert list(published(relay, "/.well-known/jwks/render.json")) == [shown["key_id"]]
