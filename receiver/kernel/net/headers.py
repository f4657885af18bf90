"""What the relay reads from other services' HTTP headers, and which headers a downstream's
static `headers` may not name."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

# Headers a downstream's static `headers` may not set: the connection's own (hop-by-hop,
# RFC 9110 7.6.1), the request's framing, which the client sets from the body, and a
# cookie (the relay holds no session). Sent anyway, they left a request the downstream
# could not read or held open, and its deliveries pending.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "content-length",
        "cookie",
        "expect",
        "host",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# `proxy-*` is the proxy's; `webhook-*` the Standard Webhooks signature the relay signs.
_OWNED_PREFIXES = ("proxy-", "webhook-")
# Control characters split or end a header line (NUL, CR, LF, DEL...); a tab is text.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def static_header_problem(headers: Mapping[str, str]) -> str | None:
    """Why a downstream may not send these static headers, naming the first at fault."""
    for name, value in headers.items():
        if _CONTROL.search(name):
            return f"headers: the name {name!r} holds a control character"
        lowered = name.lower()
        if lowered in _HOP_BY_HOP or lowered.startswith(_OWNED_PREFIXES):
            return (
                f"headers: {name} is the relay's to set (as is every hop-by-hop, framing,"
                " cookie, proxy-* and webhook-* header)"
            )
        if _CONTROL.search(value):
            return f"headers: the value of {name} holds a control character"
    return None


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds asked for by a Retry-After header (delta-seconds or an HTTP date); None when
    it says nothing readable. It may be huge or infinite: each caller caps it."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError, OverflowError):
            return None
    return None if math.isnan(seconds) else max(0.0, seconds)
