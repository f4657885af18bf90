"""Secrets sealed at rest: AES-GCM (`cryptography`), keyed from the relay's own secret.

A secret the relay must read back (a managed downstream's) cannot be hashed: the store holds
`v1.<key id>.<base64url of nonce and ciphertext>`, bound to the downstream's name (copied
onto another row, it does not open). Keys come from each callback secret (HKDF): the newest
seals, every one opens, and each process re-seals under the newest at start, so an old
secret may go once every replica has restarted with both.
"""

from __future__ import annotations

import base64
import hashlib
import os
from functools import cached_property
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"
_INFO = b"runway-relay sealed downstream secrets v1"
_NONCE_BYTES = 12


def derive_key(secret: str, info: bytes) -> bytes:
    """A key derived from one of the relay's own secrets (HKDF-SHA256, 32 bytes), one per
    purpose (`info`), so that a key made for one use opens nothing of another. The relay's
    other keyholders derive theirs here too (share links, API keys). `cryptography` comes
    with the first key derived: a start, and the command line, load none of it."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode())


class Unsealable(ValueError):
    """No key this relay has opens the sealed value (its key is gone, or it was altered)."""


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"key id:" + key).hexdigest()[:8]


class Sealer:
    """Seals with the newest key, opens with any (`secrets` newest last, as configured).
    Its keys, and `cryptography`, are made at the first use: a relay that holds no sealed
    value (no downstream made through the API) pays for neither at start."""

    def __init__(self, secrets: list[str]) -> None:
        if not secrets:
            raise ValueError("a sealer needs at least one secret")
        self._secrets = list(secrets)

    @cached_property
    def _keys(self) -> tuple[str, dict[str, AESGCM]]:
        """The newest key's id, and a cipher by the id of each key."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        keys = [derive_key(s, _INFO) for s in self._secrets]
        return _key_id(keys[-1]), {_key_id(k): AESGCM(k) for k in keys}

    def seal(self, value: str, bound_to: str) -> str:
        current, by_id = self._keys
        nonce = os.urandom(_NONCE_BYTES)
        box = by_id[current].encrypt(nonce, value.encode(), bound_to.encode())
        return f"{_VERSION}.{current}.{base64.urlsafe_b64encode(nonce + box).decode()}"

    def open(self, sealed: str, bound_to: str) -> str:
        from cryptography.exceptions import InvalidTag

        version, key_id, body = [*sealed.split(".", 2), "", ""][:3]
        cipher = self._keys[1].get(key_id)
        if version != _VERSION or cipher is None:
            raise Unsealable("sealed under a key this relay does not have")
        try:
            raw = base64.urlsafe_b64decode(body)
            return cipher.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], bound_to.encode()
            ).decode()
        except (InvalidTag, ValueError):
            raise Unsealable("the sealed value does not open: altered, or another row's") from None

    @property
    def current_key(self) -> str:
        """The id of the newest key: what it seals under now."""
        return self._keys[0]

    def is_current(self, sealed: str) -> bool:
        """Sealed under the newest key: nothing to re-seal."""
        return sealed.startswith(f"{_VERSION}.{self._keys[0]}.")


# A downstream's URL, as stored: it may carry a broker's password or token, or be a chat
# webhook's credential, so it is sealed like the secret, bound to the downstream's name.
SEALED_URL = "sealed_url"
SEALED_HEADERS = "sealed_headers"
# `auth` and `tls` (a password, a token, a client secret, a client key), sealed together.
SEALED_CREDENTIALS = "sealed_credentials"
_CREDENTIALS = ("auth", "tls")
SEALED = (SEALED_URL, SEALED_HEADERS, SEALED_CREDENTIALS)


def _binding(name: str, part: str) -> str:
    return f"{name}#{part}"


def seal_url(sealer: Sealer, spec: dict[str, Any], name: str) -> dict[str, Any]:
    """The settings as stored: `url`, the `headers`' values, `auth` and `tls` replaced by
    their sealed form (a header may carry an API key)."""
    plain = ("url", "headers", *_CREDENTIALS)
    stored = {key: value for key, value in spec.items() if key not in plain}
    if "url" in spec:
        stored[SEALED_URL] = sealer.seal(str(spec["url"]), _binding(name, "url"))
    if spec.get("headers"):
        sealed = sealer.seal(orjson.dumps(spec["headers"]).decode(), _binding(name, "headers"))
        stored[SEALED_HEADERS] = sealed
    if credentials := {key: spec[key] for key in _CREDENTIALS if spec.get(key) is not None}:
        sealed = sealer.seal(orjson.dumps(credentials).decode(), _binding(name, "credentials"))
        stored[SEALED_CREDENTIALS] = sealed
    return stored


def open_url(sealer: Sealer, stored: dict[str, Any], name: str) -> dict[str, Any]:
    """The settings with their URL opened; Unsealable when its key is gone. Settings stored
    before URLs were sealed are taken as they are."""
    spec = {key: value for key, value in stored.items() if key not in SEALED}
    if SEALED_URL in stored:
        spec["url"] = sealer.open(str(stored[SEALED_URL]), _binding(name, "url"))
    if SEALED_HEADERS in stored:
        spec["headers"] = orjson.loads(
            sealer.open(str(stored[SEALED_HEADERS]), _binding(name, "headers"))
        )
    if SEALED_CREDENTIALS in stored:
        binding = _binding(name, "credentials")
        spec.update(orjson.loads(sealer.open(str(stored[SEALED_CREDENTIALS]), binding)))
    return spec


def url_is_current(sealer: Sealer, stored: dict[str, Any]) -> bool:
    """The URL is sealed, under the newest key."""
    sealed = [stored.get(key) for key in SEALED]
    plain = any(key in stored for key in ("url", "headers", *_CREDENTIALS))
    return not plain and all(s is None or sealer.is_current(str(s)) for s in sealed)
