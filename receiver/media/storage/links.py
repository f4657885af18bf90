"""Signed, expiring URLs for mirrored files, made with the relay's callback signing keys
(a salt of their own keeps a media link from ever passing for a callback token)."""

from __future__ import annotations

import time

from itsdangerous import BadData, URLSafeTimedSerializer

from receiver.wiring.service import Service

_SALT = "runway-relay.media.v1"


class MediaLinks:
    def __init__(self, keys: list[str], public_url: str, ttl_seconds: float) -> None:
        self._serializer = URLSafeTimedSerializer(keys, salt=_SALT)
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


def _new_links(service: Service) -> MediaLinks:
    ttl = service.config.settings.media.url_ttl_seconds
    return MediaLinks(service.config.secrets.signing_keys, service.config.public_url, ttl)


def media_links_of(service: Service) -> MediaLinks:
    return service.part(_new_links)
