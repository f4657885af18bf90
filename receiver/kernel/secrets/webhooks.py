"""Standard Webhooks signatures for outbound events.

`webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the
bytes of a `whsec_<base64>` secret. The secret is checked at start-up (`parse_secret`)
against what the official Standard Webhooks libraries accept, so that every receiver
verifies with the very string it was given.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
import re

PREFIX = "whsec_"
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
MIN_KEY_BYTES = 16
_HOW = "make one with `receiver secret`"


def parse_secret(secret: str) -> bytes:
    """The key a `whsec_` secret stands for; ValueError saying why a secret cannot work."""
    if not secret.startswith(PREFIX):
        raise ValueError(f"must be {PREFIX} followed by base64 ({_HOW})")
    encoded = secret.removeprefix(PREFIX)
    # The official libraries decode leniently (padding added, stray characters dropped): a
    # secret they would read differently from us is refused here instead.
    if not _BASE64.fullmatch(encoded):
        raise ValueError(f"the part after {PREFIX} must be standard base64 ({_HOW})")
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise ValueError(f"the part after {PREFIX} is not valid base64 ({_HOW})") from None
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the key must be at least {MIN_KEY_BYTES} bytes ({_HOW})")
    return key


def new_secret() -> str:
    """A fresh secret of the form the Standard Webhooks libraries expect."""
    return PREFIX + base64.b64encode(os.urandom(24)).decode()


@functools.lru_cache(maxsize=64)
def _key(secret: str) -> bytes:
    return parse_secret(secret)


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
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
