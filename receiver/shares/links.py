"""Share links: an opaque, expiring token that opens one task, read only.

Sealed (AES-GCM, keyed by HKDF from each callback secret: the newest seals, every one
opens), so a holder reads nothing in it: the task, the key that made it (revoking the key
ends its links), its end, a random id (its streams' cap counts by it), what its page shows
and, for the admin token's, a mark of that token. Links of the earlier, signed format still
open until they expire when a key made them; the admin token's no longer do, as nothing
could end them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Literal

import orjson
from itsdangerous import BadData, URLSafeSerializer

from receiver.kernel.errors import NotAllowed
from receiver.kernel.secrets.sealing import derive_key

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PREFIX = "s2."
_INFO = b"runway-relay share links v2"
_BOUND = b"share link"
_NONCE_BYTES = 12
_KEY_ID_BYTES = 4
_OLD_SALT = "runway-relay.share.v1"


Why = Literal["forged", "expired", "revoked", "gone"]


class ShareRefused(NotAllowed):
    """The link does not open: `why` says whether it never did (forged, tampered with) or
    no longer does (expired, its key revoked, its task gone), for the page's status."""

    def __init__(self, detail: str, why: Why = "forged") -> None:
        super().__init__(detail)
        self.why: Why = why


@dataclass(frozen=True)
class SharedLink:
    """What an opened link says."""

    task_id: str
    key_id: str | None  # None: the admin token made it
    expires_at: float
    link_id: str
    app: str = ""  # the name of the app (key) that made it; "": the admin token
    show_prompt: bool = False  # its maker let the page show the task's prompt


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"share key id:" + key).digest()[:_KEY_ID_BYTES]


def _admin_mark(admin_token: str) -> str:
    # Binds the admin token's links to it without carrying anything that reveals it.
    return hmac.new(admin_token.encode(), b"share-links", hashlib.sha256).hexdigest()[:16]


def _forged() -> ShareRefused:
    return ShareRefused("the share link is forged or tampered with")


class ShareSigner:
    """Its ciphers, and `cryptography`, are made at the first link made or opened: a relay
    that shares nothing pays for neither at start."""

    def __init__(self, keys: list[str], admin_token: str) -> None:
        if not keys:
            raise ValueError("at least one signing key is needed")
        self._keys = list(keys)  # newest last
        self._admin = _admin_mark(admin_token)
        self._old = URLSafeSerializer(
            keys, salt=_OLD_SALT, signer_kwargs={"digest_method": hashlib.sha256}
        )

    @cached_property
    def _sealing(self) -> tuple[bytes, dict[bytes, AESGCM]]:
        """The newest key's id, and a cipher by the id of each key."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        derived = [derive_key(k, _INFO) for k in self._keys]
        return _key_id(derived[-1]), {_key_id(k): AESGCM(k) for k in derived}

    def token_for(
        self,
        task_id: str,
        key_id: str | None,
        expires_at: float,
        app: str = "",
        show_prompt: bool = False,
    ) -> str:
        payload: dict[str, object] = {
            "t": task_id,
            "k": key_id or "",
            "e": int(expires_at),
            "i": os.urandom(8).hex(),
            "a": "" if key_id else self._admin,
        }
        # Only when set: links without them stay as short as before.
        if app:
            payload["n"] = app
        if show_prompt:
            payload["p"] = 1
        current, ciphers = self._sealing
        nonce = os.urandom(_NONCE_BYTES)
        box = ciphers[current].encrypt(nonce, orjson.dumps(payload), _BOUND)
        raw = current + nonce + box
        return _PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def open(self, token: str, now: float) -> SharedLink:
        """What the link says; ShareRefused when it is forged, expired, or the admin token
        that made it is no longer this relay's."""
        found = self._unseal(token) if token.startswith(_PREFIX) else self._old_format(token)
        task_id, key_id, expires_at = found.get("t"), found.get("k"), found.get("e")
        link_id = found.get("i") or hashlib.sha256(token.encode()).hexdigest()[:16]
        if not isinstance(task_id, str) or not isinstance(key_id, str):
            raise _forged()
        if not isinstance(expires_at, int) or expires_at <= now:
            raise ShareRefused("the share link has expired", "expired")
        if not key_id and not hmac.compare_digest(str(found.get("a", "")), self._admin):
            raise ShareRefused(
                "the admin token that made this share link is no longer the relay's", "revoked"
            )
        return SharedLink(
            task_id,
            key_id or None,
            float(expires_at),
            str(link_id),
            str(found.get("n") or ""),
            found.get("p") == 1,
        )

    def _unseal(self, token: str) -> dict[str, object]:
        from cryptography.exceptions import InvalidTag

        body = token[len(_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise _forged() from None
        cipher = self._sealing[1].get(raw[:_KEY_ID_BYTES])
        if cipher is None:
            raise _forged()
        sealed = raw[_KEY_ID_BYTES:]
        nonce, box = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        try:
            found = orjson.loads(cipher.decrypt(nonce, box, _BOUND))
        except (InvalidTag, ValueError):
            raise _forged() from None
        if not isinstance(found, dict):
            raise _forged()
        return found

    def _old_format(self, token: str) -> dict[str, object]:
        try:
            found = self._old.loads(token)
        except BadData:
            raise _forged() from None
        if not isinstance(found, dict):
            raise _forged()
        # The earlier format carried no mark of the admin token: such a link of the admin
        # token's could never be ended, so it no longer opens.
        return {k: v for k, v in found.items() if k in ("t", "k", "e")}
