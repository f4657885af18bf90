"""Signed callback URLs: each task gets a token that binds its local id and the issue time.

The token is the only credential CometAPI presents on a callback, so it is checked before
the body is read. Keys rotate: the newest key signs, every configured key verifies.
"""

from __future__ import annotations

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

_SALT = "runway-relay.callback.v1"


class TokenRejected(Exception):
    """The token is forged, tampered with or expired; `reason` is for metrics and logs."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CallbackSigner:
    def __init__(self, keys: list[str], max_age_seconds: int) -> None:
        if not keys:
            raise ValueError("at least one signing key is needed")
        # itsdangerous takes keys oldest to newest and signs with the last one.
        self._serializer = URLSafeTimedSerializer(keys, salt=_SALT)
        self._max_age = max_age_seconds

    def token_for(self, task_id: str) -> str:
        token = self._serializer.dumps({"t": task_id})
        assert isinstance(token, str)
        return token

    def verify(self, token: str) -> str:
        """The task id the token was issued for, or TokenRejected."""
        try:
            payload = self._serializer.loads(token, max_age=self._max_age)
        except SignatureExpired:
            raise TokenRejected("expired") from None
        except BadData:
            raise TokenRejected("bad_signature") from None
        task_id = payload.get("t") if isinstance(payload, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise TokenRejected("bad_payload")
        return task_id
