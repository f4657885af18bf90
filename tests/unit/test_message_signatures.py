"""RFC 9421 signatures: the signature base, the ed25519 signature and the digest against the
RFCs' own examples, the key id against RFC 8037's thumbprint, and whole requests verified
by `http-message-signatures`, an implementation not the relay's own."""

from __future__ import annotations

import base64
import json
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
from pydantic import ValidationError

from receiver.config import ManagedDownstreamConfig, parse_settings, resolve
from receiver.kernel.errors import ConfigError
from receiver.kernel.secrets import message_signatures as rfc9421
from receiver.kernel.secrets.signing import new_secret

# RFC 9421 appendix B.1.4, test-key-ed25519: the seed is the PKCS#8 key's last 32 bytes.
RFC9421_KEY = (
    "whsk_"
    + base64.b64encode(
        base64.b64decode("MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF")[-32:]
    ).decode()
)
RFC9421_PUBLIC = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"
# RFC 8037 appendix A.1 (its private key) and A.3 (its RFC 7638 thumbprint).
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_KID = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_rfc9421_b26_signature_base_and_ed25519_signature() -> None:
    covered = ("date", "@method", "@path", "@authority", "content-type", "content-length")
    params = rfc9421.signature_params(covered, created=1618884473, keyid="test-key-ed25519")
    assert params == (
        '("date" "@method" "@path" "@authority" "content-type" "content-length")'
        ';created=1618884473;keyid="test-key-ed25519"'
    )
    values = ["Tue, 20 Apr 2021 02:07:55 GMT", "POST", "/foo", "example.com"]
    base = rfc9421.signature_base(
        list(zip(covered, [*values, "application/json", "18"], strict=True)), params
    )
    assert base.decode() == "\n".join(
        [
            '"date": Tue, 20 Apr 2021 02:07:55 GMT',
            '"@method": POST',
            '"@path": /foo',
            '"@authority": example.com',
            '"content-type": application/json',
            '"content-length": 18',
            f'"@signature-params": {params}',
        ]
    )
    assert rfc9421.jwk(RFC9421_KEY)["x"] == RFC9421_PUBLIC
    assert rfc9421.signature(RFC9421_KEY, base) == (
        "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="
    )


def test_rfc9530_content_digest() -> None:
    digest = rfc9421.content_digest(b'{"hello": "world"}')
    assert digest == "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"


def test_the_key_id_is_rfc7638_thumbprint_of_rfc8037_s_example() -> None:
    seed = base64.urlsafe_b64decode(RFC8037_D + "=")
    secret = "whsk_" + base64.b64encode(seed).decode()
    assert rfc9421.jwk(secret) == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": RFC8037_X,
        "kid": RFC8037_KID,
        "alg": "EdDSA",
        "use": "sig",
    }
    assert rfc9421.key_id(secret) == RFC8037_KID
    assert rfc9421.shown_key_id("rfc9421", secret) == RFC8037_KID
    assert rfc9421.shown_key_id("ed25519", secret) is None
    assert rfc9421.shown_key_id("rfc9421", new_secret()) is None  # HMAC until the rotation


def _public(jwk: dict[str, str]) -> Ed25519PublicKey:
    x = jwk["x"]
    return Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))


def _verify(secrets: list[str], message: Any, body: bytes, **select: str) -> list[Any]:
    keys = {rfc9421.key_id(s): _public(rfc9421.jwk(s)) for s in secrets}
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys=keys, private_keys={}),
    )
    return verifier.verify(
        message,
        expect_tag=rfc9421.TAG,
        require_components=rfc9421.COVERED,
        body=body,
        **select,
    )


def _request(url: str, headers: dict[str, str], secrets: list[str], body: bytes) -> Any:
    headers = headers | {"webhook-id": "msg_1"}
    signed = rfc9421.signature_headers("post", url, headers, body, secrets, 1_800_000_000)
    return SimpleNamespace(method="POST", url=rfc9421.target_uri(url), headers=headers | signed)


def test_a_request_verifies_with_another_implementation_and_either_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(HTTPMessageVerifier, "validate_created_and_expires", lambda *a, **k: None)
    new, old = new_secret("rfc9421"), new_secret("rfc9421")
    body = json.dumps({"type": "task.succeeded", "data": {"x": "ü"}}).encode()
    message = _request("https://hooks.example/in?a=1", {}, [new, old], body)
    assert message.headers["Content-Type"] == "application/json"
    assert [r.label for r in _verify([new, old], message, body)] == ["sig1", "sig2"]
    assert _verify([old], message, body, expect_label="sig2")[0].parameters == {
        "created": 1_800_000_000,
        "expires": 1_800_000_300,  # five minutes on
        "keyid": rfc9421.key_id(old),
        "alg": "ed25519",
        "tag": "runway-relay",
    }
    assert _verify([new], message, body, expect_label="sig1")
    with pytest.raises(InvalidSignature):
        _verify([new, old], message, body + b" ")
    with pytest.raises(InvalidSignature):
        _verify([new], message, body, expect_label="sig2")


def test_a_transform_s_content_type_is_signed_as_sent_and_an_empty_path_is_slash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(HTTPMessageVerifier, "validate_created_and_expires", lambda *a, **k: None)
    key = new_secret("rfc9421")
    message = _request("http://hooks.example", {"content-TYPE": "text/plain"}, [key], b"hi")
    assert "Content-Type" not in message.headers and message.url == "http://hooks.example/"
    [result] = _verify([key], message, b"hi")
    assert result.covered_components['"content-type"'] == "text/plain"


def test_rfc9421_is_refused_where_no_http_request_is_signed() -> None:
    with pytest.raises(ValidationError, match="signing: rfc9421 signs HTTP requests, not nats"):
        nats = {"format": "nats", "url": "nats://n:4222", "subject": "s"}
        ManagedDownstreamConfig.model_validate({"name": "d", **nats, "signing": "rfc9421"})
    ManagedDownstreamConfig.model_validate(
        {"name": "d", "url": "https://hooks.example/in", "signing": "rfc9421"}
    )


def test_rfc9421_needs_a_whsk_secret_at_start_up() -> None:
    settings = parse_settings(
        {
            "downstream": [
                {"name": "d", "url": "https://h.example/", "secret_env": "S", "signing": "rfc9421"}
            ]
        }
    )
    env = {"COMETAPI_KEY": "k" * 20, "RECEIVER_ADMIN_TOKEN": "a" * 20, "RECEIVER_SECRET": "s" * 20}
    with pytest.raises(ConfigError, match="signing is rfc9421: the secret in S must be whsk_"):
        resolve(settings, {**env, "S": new_secret()})
    [d] = resolve(settings, {**env, "S": new_secret("rfc9421")}).downstreams
    assert d.signing == "rfc9421"
