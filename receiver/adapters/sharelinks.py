"""Share links: a signed, expiring token that opens one task, read only, for an app's own
users (itsdangerous, as the callback tokens are).

The token binds the task's id, the key that made the link (so revoking the key ends its
links) and when it expires. It is no API key and opens nothing but that task's view.
"""

from __future__ import annotations

import hashlib

from itsdangerous import BadData, URLSafeSerializer

from receiver.errors import NotAllowed

_SALT = "runway-relay.share.v1"


class ShareRefused(NotAllowed):
    """The link is forged, tampered with or expired."""


class ShareSigner:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one signing key is needed")
        # Newest last: itsdangerous signs with the last key and verifies with every one.
        self._serializer = URLSafeSerializer(
            keys, salt=_SALT, signer_kwargs={"digest_method": hashlib.sha256}
        )

    def token_for(self, task_id: str, key_id: str | None, expires_at: float) -> str:
        token = self._serializer.dumps({"t": task_id, "k": key_id or "", "e": int(expires_at)})
        assert isinstance(token, str)
        return token

    def open(self, token: str, now: float) -> tuple[str, str | None]:
        """The task id and the key that made the link (None: the admin token)."""
        try:
            found = self._serializer.loads(token)
            task_id, key_id, expires_at = found["t"], found["k"], found["e"]
        except (BadData, KeyError, TypeError):
            raise ShareRefused("the share link is forged or tampered with") from None
        if not isinstance(task_id, str) or not isinstance(key_id, str):
            raise ShareRefused("the share link is forged or tampered with")
        if not isinstance(expires_at, int) or expires_at <= now:
            raise ShareRefused("the share link has expired")
        return task_id, key_id or None
