"""API keys: made here, and stored only as a keyed hash (HMAC-SHA256).

A key is `rr_` and 43 URL-safe characters, so secret scanners can find one that leaks. The
hash's key is derived with HKDF from each of the relay's callback secrets, as the sealing of
stored secrets is (sealing.py): the newest hashes a new key, and a key is looked up under
every one of them, so a rotation of that secret does not void the keys already given out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "rr_"
_INFO = b"runway-relay api keys v1"


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def looks_like_key(token: str) -> bool:
    return token.startswith(PREFIX) and 20 <= len(token) <= 100


class KeyHasher:
    """Hashes with the newest derived key; `digests` gives the hash under each, newest first."""

    def __init__(self, relay_secrets: list[str]) -> None:
        if not relay_secrets:
            raise ValueError("a key hasher needs at least one secret")
        self._keys = [
            HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(s.encode())
            for s in reversed(relay_secrets)
        ]

    def digest(self, key: str) -> str:
        return self.digests(key)[0]

    def digests(self, key: str) -> list[str]:
        return [hmac.new(k, key.encode(), hashlib.sha256).hexdigest() for k in self._keys]


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
