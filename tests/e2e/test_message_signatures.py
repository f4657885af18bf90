"""`signing = "rfc9421"`: deliveries carry RFC 9421 signatures that `http-message-signatures`
(an implementation not the relay's own) verifies with the keys the relay publishes (the
operator's own downstreams' at /.well-known/jwks.json, an app's at
/.well-known/jwks/{app}.json: tests/e2e/test_key_sets.py), picked by `keyid`, as
docs/delivery.md shows a receiver doing; each signature expires five minutes after it was
made; across a rotation both keys are published and either one verifies its own signature,
and the old one leaves the set when the overlap ends."""

from __future__ import annotations

import base64
import datetime
import re
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from http_message_signatures import (
    HTTPMessageVerifier,
    InvalidSignature,
    MappingKeyResolver,
    algorithms,
)
from http_message_signatures import signatures as verifier_module
from http_sf import parse

from receiver.kernel.secrets import signing as sign
from tests.conftest import MakeRelay
from tests.harness import Relay, Sink, image_to_video, settled, wait_for

COVERED = ("@method", "@target-uri", "content-type", "content-digest", "webhook-id")
# A `whsk_` private key itself (the word alone is in the forms' help).
PRIVATE_KEY = re.compile(r"whsk_[A-Za-z0-9+/]{40}")


def published(relay: Relay, path: str = "/.well-known/jwks.json") -> dict[str, Ed25519PublicKey]:
    """A key set of the relay's (the operator's own by default), fetched as any receiver
    would: anonymously."""
    answer = relay.anon.get(path)
    assert answer.status_code == 200, answer.text
    assert "max-age=300" in answer.headers["cache-control"]
    keys = {}
    for jwk in answer.json()["keys"]:
        assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == (
            "OKP",
            "Ed25519",
            "EdDSA",
            "sig",
        )
        raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
        keys[jwk["kid"]] = Ed25519PublicKey.from_public_bytes(raw)
    return keys


def verify(
    keys: dict[str, Ed25519PublicKey],
    sink: Sink,
    hit: dict[str, Any],
    max_age: datetime.timedelta | None = datetime.timedelta(minutes=5),
    **select: str,
) -> list[Any]:
    """The delivery as the sink received it, verified as docs/delivery.md's recipe does, its
    body against its digest."""
    query = f"?{hit['query']}" if hit["query"] else ""
    message = SimpleNamespace(
        method=hit["method"], url=f"{sink.url}{hit['path']}{query}", headers=hit["headers"]
    )
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys=keys, private_keys={}),
    )
    return verifier.verify(
        message,
        expect_tag="runway-relay",
        require_components=COVERED,
        body=hit["body"].encode(),
        max_age=max_age,
        **select,
    )


class _SixMinutesOn(datetime.datetime):
    """The verifier's clock, six minutes after now: a delivery replayed then."""

    @classmethod
    def now(cls, tz: datetime.tzinfo | None = None) -> _SixMinutesOn:
        return cls.fromtimestamp(
            (datetime.datetime.now(tz) + datetime.timedelta(minutes=6)).timestamp(), tz
        )


def key_ids(hit: dict[str, Any]) -> dict[str, str]:
    """Each signature's label and `keyid`."""
    members = parse(hit["headers"]["signature-input"].encode(), tltype="dictionary")
    return {label: params["keyid"] for label, (_, params) in members.items()}


def test_a_config_file_downstream_s_deliveries_verify_with_the_published_key(
    make_relay: MakeRelay, sink: Sink
) -> None:
    key, hmac = sign.new_secret("rfc9421"), sign.new_secret()
    hooks = [
        {"name": "rfc", "url": f"{sink.url}/rfc?a=1", "secret_env": "RFC", "signing": "rfc9421"},
        {"name": "plain", "url": f"{sink.url}/plain", "secret_env": "PLAIN"},
    ]
    relay = make_relay(
        [{**hook, "timeout": 2.0} for hook in hooks], env={"RFC": key, "PLAIN": hmac}
    )
    shown = relay.api.get("/v1/downstreams/rfc").json()
    assert shown["signing"] == "rfc9421" and shown["key_id"]
    assert relay.api.get("/v1/downstreams/plain").json()["key_id"] is None
    keys = published(relay)
    assert list(keys) == [shown["key_id"]]  # the HMAC downstream publishes nothing

    relay.wait_task(relay.submitted(**image_to_video())["id"], settled)
    [hit] = wait_for(lambda: sink.accepted("/rfc") or None)
    [result] = verify(keys, sink, hit)
    assert result.parameters["keyid"] == shown["key_id"] and result.body == hit["body"].encode()
    headers = hit["headers"]
    assert headers["content-digest"].startswith("sha-256=:")
    # Standard Webhooks' id and timestamp still go, the id signed; no `webhook-signature`.
    assert headers["webhook-id"] and headers["webhook-timestamp"]
    assert "webhook-signature" not in headers
    forged = {**hit, "body": hit["body"].replace("succeeded", "failed")}
    with pytest.raises(InvalidSignature):
        verify(keys, sink, forged)


def test_a_signature_expires_five_minutes_after_it_was_made(
    make_relay: MakeRelay, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = {"name": "rfc", "url": f"{sink.url}/rfc", "secret_env": "RFC", "signing": "rfc9421"}
    relay = make_relay([{**hook, "timeout": 2.0}], env={"RFC": sign.new_secret("rfc9421")})
    keys = published(relay)
    relay.wait_task(relay.submitted(**image_to_video())["id"], settled)
    [hit] = wait_for(lambda: sink.accepted("/rfc") or None)
    [result] = verify(keys, sink, hit)
    created, expires = result.parameters["created"], result.parameters["expires"]
    assert expires == created + 300
    # `expires` is signed: moved later, the signature no longer verifies.
    later = hit["headers"]["signature-input"].replace(
        f"expires={expires}", f"expires={expires + 600}"
    )
    with pytest.raises(InvalidSignature):
        verify(keys, sink, {**hit, "headers": {**hit["headers"], "signature-input": later}})
    # Replayed six minutes on, it is refused by its `expires` even with no age limit of the
    # verifier's own.
    shifted = SimpleNamespace(
        datetime=_SixMinutesOn, timedelta=datetime.timedelta, timezone=datetime.timezone
    )
    monkeypatch.setattr(verifier_module, "datetime", shifted)
    with pytest.raises(InvalidSignature, match='"expires" parameter is set to a time in the past'):
        verify(keys, sink, hit, max_age=None)


@pytest.mark.every_backend
def test_an_api_downstream_s_rotation_publishes_both_keys_and_either_verifies(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay()
    answer = relay.api.post(
        "/v1/downstreams", json={"name": "rfc", "url": f"{sink.url}/rfc", "signing": "rfc9421"}
    )
    assert answer.status_code == 201, answer.text
    made = answer.json()
    # Its private key never leaves the relay: its public key and key id are shown.
    assert made["secret"] is None and "whsk_" not in answer.text
    assert made["key_id"] and made["public_key"].startswith("whpk_")
    assert list(published(relay)) == [made["key_id"]]  # the set, built and kept

    rotation = relay.api.post("/v1/downstreams/rfc/rotate-secret")
    rotated = rotation.json()
    assert rotated["secret"] is None and "whsk_" not in rotation.text
    new, old = rotated["key_id"], made["key_id"]
    assert new and new != old
    keys = published(relay)  # the kept set made again: the rotation changed its keys
    assert set(keys) == {new, old}
    assert relay.api.get("/v1/downstreams/rfc").json()["key_id"] == new

    relay.wait_task(relay.submitted(**image_to_video())["id"], settled)
    [hit] = wait_for(lambda: sink.accepted("/rfc") or None)
    assert key_ids(hit) == {"sig1": new, "sig2": old}
    assert [r.label for r in verify(keys, sink, hit)] == ["sig1", "sig2"]
    # A receiver that knows one key verifies the signature made with it.
    for label, kid in key_ids(hit).items():
        [one] = verify({kid: keys[kid]}, sink, hit, expect_label=label)
        assert one.parameters["keyid"] == kid

    # A test event is signed the same way.
    sent = relay.api.post("/v1/downstreams/rfc/test", json={"type": "task.succeeded"})
    assert sent.status_code == 200 and sent.json()["status"] == 200, sent.text
    tested = wait_for(lambda: len(sink.accepted("/rfc")) >= 2 and sink.accepted("/rfc")[-1])
    assert len(verify(keys, sink, tested)) == 2
    assert "whsk_" not in relay.log()

    by_cli = relay.cli("downstreams", "create", "cli", f"{sink.url}/cli", "--signing", "rfc9421")
    assert by_cli.returncode == 0, by_cli.stderr
    assert "whsk_" not in by_cli.stdout + by_cli.stderr
    lines = by_cli.stdout.splitlines()
    [kid] = [line.removeprefix("key id: ") for line in lines if line.startswith("key id: ")]
    assert set(published(relay)) == {new, old, kid}


def test_the_console_makes_one_and_shows_its_key_id_once(make_relay: MakeRelay, sink: Sink) -> None:
    relay = make_relay()
    console = relay.console()
    page = console.get("/console/deliveries").text
    assert '<option value="rfc9421">' in page
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    form = {"csrf": found.group(1), "name": "rfc", "url": f"{sink.url}/rfc", "signing": "rfc9421"}
    made = console.post("/console/downstreams", data={**form, "events": "succeeded"})
    assert made.status_code == 200, made.text[:2000]
    kid = relay.api.get("/v1/downstreams/rfc").json()["key_id"]
    assert kid and f'id="key-id">{kid}<' in made.text
    assert 'id="key-set">/.well-known/jwks.json<' in made.text
    assert not PRIVATE_KEY.search(made.text) and 'id="secret-value"' not in made.text
    assert list(published(relay)) == [kid]


@pytest.mark.every_backend
def test_the_old_key_leaves_the_kept_set_when_the_overlap_ends(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay(delivery={"rotation_overlap_seconds": 2})
    made = relay.api.post(
        "/v1/downstreams", json={"name": "rfc", "url": f"{sink.url}/rfc", "signing": "rfc9421"}
    ).json()
    assert list(published(relay)) == [made["key_id"]]
    rotated = relay.api.post("/v1/downstreams/rfc/rotate-secret").json()
    assert set(published(relay)) == {made["key_id"], rotated["key_id"]}
    # No change of the downstream ends the overlap: the kept set is made again by itself.
    wait_for(lambda: list(published(relay)) == [rotated["key_id"]])
