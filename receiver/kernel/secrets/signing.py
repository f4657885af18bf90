"""What the relay signs, and the secrets it signs with.

Signed URLs: a task's callback URL, with a token that binds its local id and the issue time,
and a mirrored file's expiring link, signed with the same keys under a salt of its own (so
that a media link never passes for a callback token). The callback token is the only
credential CometAPI presents on a callback, so it is checked before the body is read. Keys
rotate: the newest key signs, every configured key verifies.

Standard Webhooks signatures of what goes out: `webhook-signature: v1,<base64 HMAC-SHA256
of "{id}.{timestamp}.{body}">`, keyed with the bytes of a `whsec_<base64>` secret. The
secret is checked at start-up (`parse_secret`) against what the official Standard Webhooks
libraries accept, so that every receiver verifies with the very string it was given. A
`whsk_<base64 of a 32-byte ed25519 seed>` secret signs `v1a,<base64 ed25519 signature>` over
the same text instead: the receiver holds only its `whpk_` public key.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import os
import re
import time
from typing import TYPE_CHECKING, Any, Literal, Protocol

import orjson
from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import want_bytes

from receiver.kernel.errors import NotAllowed

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

_SALT = "runway-relay.callback.v1"
_MEDIA_SALT = "runway-relay.media.v1"


class TokenRejected(NotAllowed):
    """The token is forged, tampered with or expired; `reason` is for metrics and logs."""

    def __init__(self, reason: str) -> None:
        super().__init__("callback token is invalid or expired")
        self.reason = reason


class _KeyCachingSigner(TimestampSigner):
    """itsdangerous derives the signing key from salt and secret on every call; ours are
    fixed for the life of the process, so each is derived once (half of verify's cost)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._derived: dict[bytes | None, bytes] = {}

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        key = None if secret_key is None else want_bytes(secret_key)
        derived = self._derived.get(key)
        if derived is None:
            derived = self._derived[key] = super().derive_key(key)
        return derived


class _CompactJson:
    """itsdangerous's own compact JSON for the tokens we sign; orjson reads them back."""

    @staticmethod
    def dumps(obj: Any) -> str:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))

    loads = staticmethod(orjson.loads)


class CallbackSigner:
    """Signs the callback URL the relay gives CometAPI with a task, and verifies it when
    CometAPI calls back; `public_url`: how CometAPI reaches the relay."""

    def __init__(self, keys: list[str], max_age_seconds: int, public_url: str) -> None:
        if not keys:
            raise ValueError("at least one signing key is needed")
        # itsdangerous takes keys oldest to newest and signs with the last one.
        # HMAC-SHA1 as itsdangerous signs by default, but named by hashlib's constructor:
        # given that, hmac runs in C rather than in Python (same bytes, a third the time).
        self._serializer = URLSafeTimedSerializer(
            keys,
            salt=_SALT,
            serializer=_CompactJson,
            signer_kwargs={"digest_method": hashlib.sha1},
        )
        # One signer for every verify, so that its derived keys last.
        self._unsigner = _KeyCachingSigner(
            self._serializer.secret_keys, salt=_SALT, digest_method=hashlib.sha1
        )
        self._max_age = max_age_seconds
        self._callbacks = f"{public_url.rstrip('/')}/callbacks/runway/"

    def token_for(self, task_id: str) -> str:
        token = self._serializer.dumps({"t": task_id})
        assert isinstance(token, str)
        return token

    def url_for(self, task_id: str) -> str:
        """The signed URL CometAPI calls back for `task_id`."""
        return self._callbacks + self.token_for(task_id)

    def verify(self, token: str) -> str:
        """The task id the token was issued for, or TokenRejected."""
        try:
            signed = self._unsigner.unsign(token, max_age=self._max_age)
            payload = self._serializer.load_payload(signed)
        except SignatureExpired:
            raise TokenRejected("expired") from None
        except BadData:
            raise TokenRejected("bad_signature") from None
        task_id = payload.get("t") if isinstance(payload, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise TokenRejected("bad_payload")
        return task_id


class MediaLinks:
    """Signs the URL of a mirrored file, to be served at `/media/{token}` until it expires."""

    def __init__(self, keys: list[str], public_url: str, ttl_seconds: float) -> None:
        self._serializer = URLSafeTimedSerializer(keys, salt=_MEDIA_SALT)
        self._base = public_url.rstrip("/")
        self._ttl = ttl_seconds

    def url(self, key: str) -> str:
        return f"{self._base}/media/{self._serializer.dumps(key)}"

    def read(self, token: str) -> tuple[str, float] | None:
        """The media key a token names and how many seconds it stays valid, or None when it
        is forged, tampered or expired."""
        try:
            key, signed_at = self._serializer.loads(
                token, max_age=int(self._ttl), return_timestamp=True
            )
        except BadData:
            return None
        if not isinstance(key, str):
            return None
        return key, min(self._ttl, signed_at.timestamp() + self._ttl - time.time())


# --- Standard Webhooks signatures of what goes out ------------------------------------

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


def secrets_in_use(d: Rotating, now: float) -> list[str]:
    """The secrets a delivery is signed with now: during a rotation's overlap, the new one
    and the one it replaces (Standard Webhooks: space-separated signatures)."""
    if not d.secret:
        return []
    if d.previous_secret and now < d.previous_until:
        return [d.secret, d.previous_secret]
    return [d.secret]


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


def signing_of(secret: str) -> Signing:
    return "ed25519" if secret.startswith(SIGNING_PREFIX) else "hmac"


@functools.lru_cache(maxsize=64)
def _key(secret: str) -> bytes:
    return parse_secret(secret)


@functools.lru_cache(maxsize=64)
def _private(secret: str) -> Ed25519PrivateKey:
    # Imported when first used: every command's help stays quick to load.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(_key(secret))


def public_key(secret: str) -> str | None:
    """The `whpk_` key a receiver verifies a `whsk_` secret's signatures with; None for HMAC."""
    if signing_of(secret) != "ed25519":
        return None
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = _private(secret).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return PUBLIC_PREFIX + base64.b64encode(raw).decode()


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    if signing_of(secret) == "ed25519":
        return "v1a," + base64.b64encode(_private(secret).sign(signed)).decode()
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
