"""A moment as people give it, in the API and on the command line alike: epoch seconds, or
an ISO 8601 time (UTC unless it says otherwise)."""

from __future__ import annotations

import math
from datetime import UTC, datetime


def epoch_seconds(value: str) -> float:
    """The moment `value` names, as epoch seconds; ValueError saying what is accepted."""
    try:
        number = float(value)
    except ValueError:
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("must be epoch seconds or an ISO 8601 time") from None
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    if not math.isfinite(number):
        raise ValueError("must be a finite number")
    return number
