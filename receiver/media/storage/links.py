"""Signed, expiring URLs for mirrored files, made with the relay's callback signing keys
(a salt of their own keeps a media link from ever passing for a callback token)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request
from itsdangerous import BadData, URLSafeTimedSerializer

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


async def _media_links_of(request: Request) -> MediaLinks:
    # The process's one signer of media links, put on the application at start-up
    # (receiver/app/parts.py).
    links: MediaLinks = request.app.state.media_links
    return links


# A route's signer of media links.
Links = Annotated[MediaLinks, Depends(_media_links_of)]
