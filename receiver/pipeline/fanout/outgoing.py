"""What one delivery attempt sends besides its body (its transport failures are told by
receiver/adapters/transport_errors.py)."""

from __future__ import annotations

import time

from receiver.adapters import webhooks as sign
from receiver.config import Downstream
from receiver.observability import tracing


def signed_headers(downstream: Downstream, message_id: str, body: bytes) -> dict[str, str]:
    """Standard Webhooks headers for `body`, signed with every secret in use now (two during
    a rotation's overlap), and the attempt's `traceparent`: the receiver's own tracing goes
    on in the task's trace."""
    now = time.time()
    signed = sign.headers(downstream.signing_secrets(now), message_id, int(now), body)
    return signed | tracing.current_headers()
