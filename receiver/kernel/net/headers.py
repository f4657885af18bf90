"""What the relay reads from other services' HTTP headers."""

from __future__ import annotations

import math
from email.utils import parsedate_to_datetime


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
