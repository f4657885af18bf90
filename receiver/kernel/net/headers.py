"""Which headers a downstream's headers (static, or set by a transform) may not name (an
answer's Retry-After is read in outbound.py, beside what a failed call means)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Headers neither a downstream's static `headers` nor a transform may set: the
# connection's own (hop-by-hop, RFC 9110 7.6.1), the request's framing, which the client
# sets from the body, a cookie (the relay holds no session), and what the relay sets itself
# (the signature, RFC 9421's too, is the receiver's only proof; the trace is the relay's).
# Sent anyway, they left a request the downstream could not read or held open, and its
# deliveries pending.
_RESERVED = frozenset(
    {
        "connection",
        "content-digest",
        "content-length",
        "content-type",
        "cookie",
        "expect",
        "host",
        "keep-alive",
        "signature",
        "signature-input",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# `proxy-*` is the proxy's; `webhook-*` the Standard Webhooks signature the relay signs.
_OWNED_PREFIXES = ("proxy-", "webhook-")
# A header name is an RFC 9110 token; a value one line of text (a tab is text).
_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
MAX_VALUE = 4096


def header_problem(headers: Mapping[Any, Any]) -> str | None:
    """Why a downstream may not send these headers (static, or a transform's), naming the
    first at fault."""
    for name, value in headers.items():
        if not isinstance(name, str) or not _NAME.match(name):
            return f"headers: {str(name)[:64]!r} is not a header name"
        lowered = name.lower()
        if lowered in _RESERVED or lowered.startswith(_OWNED_PREFIXES):
            return (
                f"headers: {name} is the relay's to set (as is every hop-by-hop, framing,"
                " cookie, trace, signature, proxy-* and webhook-* header)"
            )
        if not isinstance(value, str) or len(value) > MAX_VALUE:
            return f"headers: the value of {name} must be text of at most {MAX_VALUE} characters"
        if _CONTROL.search(value):
            return f"headers: the value of {name} holds a control character"
    return None
