"""Signed URLs: a task's callback URL, with a token that binds its local id and the issue
time, and a mirrored file's expiring link, signed with the same keys under a salt of its own
(so that a media link never passes for a callback token).

The callback token is the only credential CometAPI presents on a callback, so it is checked
before the body is read. Keys rotate: the newest key signs, every configured key verifies.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import orjson
from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import want_bytes

from receiver.kernel.errors import NotAllowed
from receiver.kernel.recent import Recent

_SALT = "runway-relay.callback.v1"
# A task's callback URL is signed once when it is queued and sent within this: the URL
# queued with it goes to CometAPI (at most this many remembered, in memory only).
REUSE_SECONDS = 60.0
RECENT_URLS = 4096
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
        self._recent: Recent[str] = Recent(REUSE_SECONDS, RECENT_URLS)  # task id: its URL

    def token_for(self, task_id: str) -> str:
        token = self._serializer.dumps({"t": task_id})
        assert isinstance(token, str)
        return token

    def url_for(self, task_id: str) -> str:
        """The signed URL CometAPI calls back for `task_id`: the one signed when it was
        queued, when it goes within `REUSE_SECONDS` (a task that waited longer gets a new
        token, so that its age counts from the send), kept in memory only."""
        issued = self._recent.get(task_id)
        if issued is not None:
            return issued
        url = self._callbacks + self.token_for(task_id)
        self._recent.keep(task_id, url)
        return url

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
