"""Signed, expiring URLs for mirrored files, made with the relay's callback signing keys
(a salt of their own keeps a media link from ever passing for a callback token)."""

from __future__ import annotations

from itsdangerous import BadData, URLSafeTimedSerializer

_SALT = "runway-relay.media.v1"


class MediaLinks:
    def __init__(self, keys: list[str], public_url: str, ttl_seconds: float) -> None:
        self._serializer = URLSafeTimedSerializer(keys, salt=_SALT)
        self._base = public_url.rstrip("/")
        self._ttl = ttl_seconds

    def url(self, key: str) -> str:
        return f"{self._base}/media/{self._serializer.dumps(key)}"

    def key(self, token: str) -> str | None:
        """The media key a token names, or None when it is forged, tampered or expired."""
        try:
            key = self._serializer.loads(token, max_age=int(self._ttl))
        except BadData:
            return None
        return key if isinstance(key, str) else None
