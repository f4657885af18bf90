"""Standard Webhooks signatures for outbound events.

`webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the
bytes of a `whsec_<base64>` secret. The secret is checked at start-up (`parse_secret`)
against what the official Standard Webhooks libraries accept, so that every receiver
verifies with the very string it was given. A `whsk_<base64 of a 32-byte ed25519 seed>`
secret signs `v1a,<base64 ed25519 signature>` over the same text instead: the receiver
holds only its `whpk_` public key.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
import re
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PREFIX = "whsec_"
SIGNING_PREFIX = "whsk_"
PUBLIC_PREFIX = "whpk_"
ED25519_SEED_BYTES = 32
# rfc9421: a `whsk_` key too, signing RFC 9421 signatures (destinations/message_signatures.py).
Signing = Literal["hmac", "ed25519", "rfc9421"]
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
MIN_KEY_BYTES = 16
_HOW = "make one with `receiver secret`"
_HOW_ED25519 = "make one with `receiver secret --ed25519`"


class Rotating(Protocol):
    """A downstream's secrets: the one it signs with, and the one a rotation replaces, still
    signing beside it until `previous_until`."""

    @property
    def secret(self) -> str | None: ...

    @property
    def previous_secret(self) -> str | None: ...

    @property
    def previous_until(self) -> float: ...

    @property
    def key_beside(self) -> str | None: ...

    @property
    def previous_key_beside(self) -> str | None: ...


def secrets_in_use(d: Rotating, now: float) -> list[str]:
    """The secrets a delivery is signed with now: during a rotation's overlap, the new one
    and the one it replaces (Standard Webhooks: space-separated signatures); each with the
    ed25519 key that signs beside it, when it has one (an app's task webhooks)."""
    if not d.secret:
        return []
    in_use = [d.secret, *([d.key_beside] if d.key_beside else [])]
    if d.previous_secret and now < d.previous_until:
        in_use.append(d.previous_secret)
        in_use += [d.previous_key_beside] if d.previous_key_beside else []
    return in_use


def parse_secret(secret: str) -> bytes:
    """The key a `whsec_` or `whsk_` secret stands for; ValueError saying why it cannot work."""
    prefix = SIGNING_PREFIX if secret.startswith(SIGNING_PREFIX) else PREFIX
    if not secret.startswith(prefix):
        raise ValueError(f"must be {PREFIX} followed by base64 ({_HOW})")
    how = _HOW_ED25519 if prefix == SIGNING_PREFIX else _HOW
    encoded = secret.removeprefix(prefix)
    # The official libraries decode leniently (padding added, stray characters dropped): a
    # secret they would read differently from us is refused here instead.
    if not _BASE64.fullmatch(encoded):
        raise ValueError(f"the part after {prefix} must be standard base64 ({how})")
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise ValueError(f"the part after {prefix} is not valid base64 ({how})") from None
    if prefix == SIGNING_PREFIX and len(key) != ED25519_SEED_BYTES:
        raise ValueError(f"an ed25519 key is {ED25519_SEED_BYTES} bytes ({how})")
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the key must be at least {MIN_KEY_BYTES} bytes ({_HOW})")
    return key


def new_secret(signing: Signing = "hmac") -> str:
    """A fresh secret of the form the Standard Webhooks libraries expect: `whsec_` (HMAC),
    or `whsk_` with an ed25519 private key's 32-byte seed (ed25519, rfc9421)."""
    if signing != "hmac":
        return SIGNING_PREFIX + base64.b64encode(os.urandom(ED25519_SEED_BYTES)).decode()
    return PREFIX + base64.b64encode(os.urandom(24)).decode()


def shown_once(secret: str) -> str | None:
    """A new secret as its answer may show it, this once: a `whsec_` secret, which the
    receiver verifies with; never a `whsk_` private key (None): it never leaves the relay,
    whose receivers verify with its public key."""
    return None if secret.startswith(SIGNING_PREFIX) else secret


def signing_of(secret: str) -> Signing:
    return "ed25519" if secret.startswith(SIGNING_PREFIX) else "hmac"


@functools.lru_cache(maxsize=64)
def _key(secret: str) -> bytes:
    return parse_secret(secret)


@functools.lru_cache(maxsize=64)
def private_key(secret: str) -> Ed25519PrivateKey:
    """A `whsk_` secret's ed25519 key (for Standard Webhooks and RFC 9421 alike)."""
    # Imported when first used: every command's help stays quick to load.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(_key(secret))


def public_bytes(secret: str) -> bytes:
    """The raw public key of a `whsk_` secret."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return private_key(secret).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_key(secret: str) -> str | None:
    """The `whpk_` key a receiver verifies a `whsk_` secret's signatures with; None for HMAC."""
    if signing_of(secret) != "ed25519":
        return None
    return PUBLIC_PREFIX + base64.b64encode(public_bytes(secret)).decode()


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    if signing_of(secret) == "ed25519":
        return "v1a," + base64.b64encode(private_key(secret).sign(signed)).decode()
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers; the id stays the same across retries. Several
    secrets (a rotation's overlap) give several signatures, space-separated, as the spec
    allows: a receiver that knows any one of the secrets verifies."""
    out = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
    if secrets:
        out["webhook-signature"] = " ".join(signature(s, msg_id, timestamp, body) for s in secrets)
    return out
