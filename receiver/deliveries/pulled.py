"""Events by pull: a pull downstream's settled deliveries read after an opaque cursor, as
the `webhook` format (or the downstream's transform) makes them, waiting up to `wait`
seconds for the first one; the cursor's rules are pure, so they are unit-tested alone.

A delivery is stamped when it settles, before its transaction commits, so one that commits
late could carry a position a reader has already passed: a read leaves out what settled in
the last SETTLE_SECONDS, and a cursor never passes a row that could still appear behind it."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson

from receiver.config import Downstream
from receiver.deliveries import reads
from receiver.deliveries.fanout.outgoing import default_body
from receiver.deliveries.fanout.shaping import Refused, prepare
from receiver.kernel.errors import MalformedRequest, Overloaded
from receiver.lifecycle.rows.pulls import Pulled
from receiver.lifecycle.rules.records import Delivery, DeliveryJob
from receiver.wiring.service import Service

MAX_WAIT_SECONDS = 30.0
SETTLE_SECONDS = 0.5
# While a request waits, the store is read this often (any replica's events are found).
POLL_SECONDS = 0.1
# Requests of one key waiting at once: one key cannot hold every connection.
WAITING_PER_KEY = 4
START = (0.0, "")
_MAC_BYTES = 16


def _mac(key: str, downstream: str, position: bytes) -> bytes:
    message = downstream.encode() + b"\0" + position
    return hmac.new(key.encode(), message, hashlib.sha256).digest()[:_MAC_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def cursor(keys: list[str], downstream: str, position: tuple[float, str]) -> str:
    """An opaque cursor for `position` of `downstream`, signed with the newest key."""
    raw = orjson.dumps([position[0], position[1]])
    return f"{_b64(raw)}.{_b64(_mac(keys[-1], downstream, raw))}"


def position(keys: list[str], downstream: str, given: str | None) -> tuple[float, str]:
    """Where a cursor of `downstream` stands (unset: its first event); MalformedRequest
    when it is not one this relay made for that downstream."""
    if not given:
        return START
    try:
        body, mac = given.split(".", 1)
        raw, sig = _unb64(body), _unb64(mac)
    except (ValueError, binascii.Error):
        raise MalformedRequest("after: not a cursor this relay made") from None
    if not any(hmac.compare_digest(sig, _mac(k, downstream, raw)) for k in keys):
        raise MalformedRequest("after: not a cursor this relay made for this downstream")
    at, key = orjson.loads(raw)
    return float(at), str(key)


class Waiting:
    """How many pull requests each key has waiting in this process."""

    def __init__(self, per_key: int = WAITING_PER_KEY) -> None:
        self.per_key = per_key
        self.open: Counter[str] = Counter()

    def take(self, holder: str) -> None:
        if self.open[holder] >= self.per_key:
            raise Overloaded(f"this key has {self.per_key} pull requests waiting")
        self.open[holder] += 1

    def give_back(self, holder: str) -> None:
        self.open[holder] -= 1
        if self.open[holder] <= 0:
            del self.open[holder]


WAITING = Waiting()


@dataclass(frozen=True)
class Page:
    data: list[Any]
    next: str


async def shaped(downstream: Downstream, row: Pulled) -> Any | None:
    """The event as a webhook of this downstream gets it (its transform's, if it has one);
    None when its filter refuses it (the fan-out did so too, unless the filter changed)."""
    stub = Delivery(
        row.id,
        str(row.payload.get("event_id", "")),
        str(row.payload.get("task_id", "")),
        downstream.name,
        "succeeded",
        1,
        row.at,
        None,
        None,
        row.at,
        row.at,
        row.at,
    )
    job = DeliveryJob(stub, row.payload)
    made = await prepare(downstream, job, lambda: default_body(downstream, job))
    return None if isinstance(made, Refused) else orjson.loads(made.body)


async def read_events(
    service: Service, downstream: Downstream, after: tuple[float, str], limit: int, wait: float
) -> Page:
    """Up to `limit` events after `after`, oldest first; none yet, waits up to `wait` s."""
    keys = service.config.secrets.signing_keys
    deadline = time.monotonic() + min(wait, MAX_WAIT_SECONDS)
    while True:
        until = time.time() - SETTLE_SECONDS
        rows = await reads.pulled(service.store, downstream.name, after, until, limit)
        if rows or time.monotonic() >= deadline:
            break
        await asyncio.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
    data = [event for row in rows if (event := await shaped(downstream, row)) is not None]
    last = (rows[-1].at, rows[-1].id) if rows else after
    return Page(data, cursor(keys, downstream.name, last))
