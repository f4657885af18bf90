"""RFC 9421 HTTP Message Signatures of a webhook request, and the keys they verify with.

A downstream with `signing = "rfc9421"` has a `whsk_` (ed25519) secret. Each request
carries a `Content-Digest` (RFC 9530, sha-256) and one signature per secret in use (two
during a rotation's overlap: `sig1`, `sig2`) over `COVERED`, with `created`, `expires`
(`created` plus `LIFETIME_SECONDS`), `keyid` (the key's RFC 7638 JWK thumbprint: stable, not
secret), `alg="ed25519"` and `tag`. The public keys are published as a JWKS (`jwk`), each app's
apart, where a receiver picks one by `keyid`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Mapping, Sequence

from receiver.kernel.secrets.signing import SIGNING_PREFIX, private_key, public_bytes

COVERED = ("@method", "@target-uri", "content-type", "content-digest", "webhook-id")
TAG = "runway-relay"
ALG = "ed25519"
# The body's type when nothing else set one (the sessions' default header): sent and signed.
CONTENT_TYPE = "application/json"
# A signature's life: each attempt is signed anew, so a request replayed later is refused by
# any verifier, even one that sets no age of its own (it drops repeats by `webhook-id`).
LIFETIME_SECONDS = 300


def keys_of(secrets: Sequence[str]) -> list[str]:
    """The ed25519 (`whsk_`) secrets among `secrets`: a downstream changed to rfc9421 keeps
    its `whsec_` secret until a rotation brings a key."""
    return [s for s in secrets if s.startswith(SIGNING_PREFIX)]


def content_digest(body: bytes) -> str:
    """RFC 9530's `Content-Digest` of `body`: a structured dictionary of one byte sequence."""
    return f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"


def signature_params(covered: Sequence[str], **params: str | int) -> str:
    """The `@signature-params` value (and `Signature-Input`'s member): the covered
    components, then the parameters in the order given, strings quoted (ours hold no `"`
    nor `\\`)."""
    items = " ".join(f'"{c}"' for c in covered)
    given = "".join(f";{k}={v}" if isinstance(v, int) else f';{k}="{v}"' for k, v in params.items())
    return f"({items}){given}"


def signature_base(components: Sequence[tuple[str, str]], params: str) -> bytes:
    """RFC 9421 section 2.5: one line per covered component, then `@signature-params`."""
    lines = [f'"{name}": {value}' for name, value in components]
    lines.append(f'"@signature-params": {params}')
    return "\n".join(lines).encode()


def target_uri(url: str) -> str:
    """The URI as the request goes out (aiohttp sends yarl's `URL(url)`), as a receiver
    rebuilds it from its request line and Host: an empty path is `/`, a default port, the
    userinfo and a fragment are not sent."""
    from yarl import URL  # at the first RFC 9421 signature: a relay starts without it

    sent = URL(url)
    built = URL.build(
        scheme=sent.scheme,
        authority=sent.with_user(None).raw_authority,
        path=sent.raw_path,
        query_string=sent.raw_query_string,
        encoded=True,
    )
    return str(built)


def signature_headers(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    created: int,
) -> dict[str, str]:
    """The headers that sign a request of `headers` (its `webhook-id` among them): its
    `Content-Digest`, `Signature-Input` and `Signature`, one signature per `whsk_` secret,
    and `Content-Type` when `headers` set none (it is covered)."""
    lower = {k.lower(): v.strip() for k, v in headers.items()}
    added = {"Content-Digest": content_digest(body)}
    if "content-type" not in lower:
        added["Content-Type"] = CONTENT_TYPE
    values = {
        "@method": method.upper(),
        "@target-uri": target_uri(url),
        "content-type": lower.get("content-type", CONTENT_TYPE),
        "content-digest": added["Content-Digest"],
        "webhook-id": lower["webhook-id"],
    }
    components = [(name, values[name]) for name in COVERED]
    inputs, signatures = [], []
    for n, secret in enumerate(secrets, start=1):
        params = signature_params(
            COVERED,
            created=created,
            expires=created + LIFETIME_SECONDS,
            keyid=key_id(secret),
            alg=ALG,
            tag=TAG,
        )
        inputs.append(f"sig{n}={params}")
        signatures.append(f"sig{n}=:{signature(secret, signature_base(components, params))}:")
    if secrets:
        added |= {"Signature-Input": ", ".join(inputs), "Signature": ", ".join(signatures)}
    return added


def signature(secret: str, base: bytes) -> str:
    """The ed25519 signature of a signature base (RFC 9421 section 3.3.6), base64."""
    return base64.b64encode(private_key(secret).sign(base)).decode()


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@functools.lru_cache(maxsize=64)
def _x(secret: str) -> str:
    return _b64url(public_bytes(secret))


def key_id(secret: str) -> str:
    """The RFC 7638 thumbprint of the secret's public JWK: its signatures' `keyid`."""
    # The required members only, sorted, no whitespace (RFC 8037 section 2 for OKP).
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": _x(secret)}, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def jwk(secret: str) -> dict[str, str]:
    """The public JWK of a `whsk_` secret (RFC 8037: OKP, Ed25519, `alg` EdDSA)."""
    okp = {"kty": "OKP", "crv": "Ed25519", "x": _x(secret)}
    return okp | {"kid": key_id(secret), "alg": "EdDSA", "use": "sig"}


def shown_key_id(signing: str, secret: str | None) -> str | None:
    """The key id an rfc9421 downstream's answers show; None for another `signing`, and
    before a rotation brings its first key."""
    keys = keys_of([secret]) if signing == "rfc9421" and secret else []
    return key_id(keys[0]) if keys else None
