"""A downstream's health in one word, read from what its deliveries came to: the one
vocabulary of the API (`health`), the command line, the console and the portal. The
breaker's own state is another thing (`breaker: open`), shown beside it under its name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Health = Literal["failing", "paused", "trying again", "healthy", "no traffic yet"]

# Each word, what it means: the API's description, the pages' tooltips and the docs say this.
MEANINGS: dict[Health, str] = {
    "failing": "deliveries went dead since its last success, or its breaker is open",
    "paused": "disabled (by the operator or its app): its deliveries are held",
    "trying again": "its latest attempts failed and are retried, none dead yet,"
    " or its breaker lets one through to see whether it is back",
    "healthy": "its latest deliveries went through",
    "no traffic yet": "nothing delivered or tried yet",
}
HEALTHS: tuple[Health, ...] = tuple(MEANINGS)


@dataclass(frozen=True)
class Outcomes:
    """What a downstream's deliveries came to, as the store keeps them, and its state."""

    delivered: int  # deliveries that went through (those retention keeps)
    dead: int  # dead letters kept
    dead_since_success: int  # of those, dead since its last attempt that went through
    failing: bool  # its last attempt failed (every one since `failing_since`)
    breaker: str  # closed | half_open | open
    enabled: bool
    pulled: bool = False  # a pull downstream: no breaker, no attempts; read by its app


def health(o: Outcomes) -> Health | None:
    """The downstream's health; None for a pull downstream with events to read: the relay
    cannot tell whether they are read, and its `readable` count says what waits."""
    if not o.enabled:
        return "paused"
    if o.pulled:
        return None if o.delivered else "no traffic yet"
    if o.breaker == "open" or o.dead_since_success:
        return "failing"
    if o.dead and not o.delivered:  # dead letters and never a success: failing all along
        return "failing"
    if o.breaker == "half_open" or o.failing:  # failed since its last success: retried
        return "trying again"
    return "healthy" if o.delivered else "no traffic yet"


def merged(made: list[str], configured: list[str], limit: int) -> tuple[list[str], bool]:
    """The first `limit` names of two lists, each in its own order (the store's, the config
    file's), merged by name: each list's own order is kept, so that what was taken of each
    is where its next page starts. Whether any name is left over."""
    taken: list[str] = []
    i = j = 0
    while len(taken) < limit and (i < len(made) or j < len(configured)):
        if j == len(configured) or (i < len(made) and made[i] <= configured[j]):
            # A name in both (the file names one made through the API): listed once.
            j += j < len(configured) and made[i] == configured[j]
            taken.append(made[i])
            i += 1
        else:
            taken.append(configured[j])
            j += 1
    return taken, i < len(made) or j < len(configured)
