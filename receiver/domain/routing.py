"""Which downstreams get an outbox row for an event, and in what state it waits.

Pure: the store reads which downstreams are disabled and whether the event's files are being
copied, and writes one row per answer of `recipients`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

RowState = Literal["pending", "held", "mirroring"]

# Every state an outbox row can be in: the first ones above, and where attempts leave it.
DELIVERY_STATES = ("pending", "mirroring", "held", "succeeded", "dead")


def recipients(
    state: str,
    subscriptions: Mapping[str, frozenset[str]],
    disabled: set[str],
    copying: bool,
) -> list[tuple[str, RowState]]:
    """Each downstream subscribed to `state`, with its row's first state: `held` while the
    downstream is disabled, `mirroring` while the event's files are being copied, else
    `pending`."""
    out: list[tuple[str, RowState]] = []
    for downstream, states in subscriptions.items():
        if state in states:
            out.append(
                (
                    downstream,
                    "held" if downstream in disabled else "mirroring" if copying else "pending",
                )
            )
    return out


def waits_for_copy(mirroring: bool, state: str, files: list[str]) -> bool:
    """Whether an event's deliveries wait for a copy of its files: only a success that has
    files, and only while mirroring is on."""
    return mirroring and state == "succeeded" and bool(files)


def notified_of(event: str, about: str, subscriptions: Mapping[str, frozenset[str]]) -> list[str]:
    """The downstreams told of a relay event (`downstream.disabled`) about another one."""
    return [name for name, events in subscriptions.items() if name != about and event in events]
