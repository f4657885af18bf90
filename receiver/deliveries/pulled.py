"""Events by pull: a pull downstream's settled deliveries read after an opaque cursor, as
the `webhook` format (or the downstream's transform) makes them, waiting up to `wait`
seconds for the first one.

A delivery is stamped when it settles, before its transaction commits, so one that commits
late could carry a position a reader has already passed: a read leaves out what settled in
the last SETTLE_SECONDS. A cursor names the downstream it was made for (when it was made):
one removed and made again refuses the old one's cursors."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from receiver.config import Downstream
from receiver.deliveries import reads
from receiver.deliveries.fanout.worker import Refused, prepare
from receiver.kernel.errors import MalformedRequest, Overloaded
from receiver.kernel.store import Store
from receiver.outbox.rows.pulls import Pulled, Readable
from receiver.outbox.rules.delivery import Delivery, DeliveryJob

MAX_WAIT_SECONDS = 30.0
SETTLE_SECONDS = 0.5
# While a request waits, the store is read this often (any replica's events are found).
POLL_SECONDS = 0.1
# Requests of one app waiting at once, all its keys together: one app cannot hold every
# connection, nor a share of the store's reads that grows with its keys.
WAITING_PER_APP = 4
# What one answer may spend shaping its events (the event loop is free between two of them),
# and the most its events may weigh (one event over it comes alone).
ANSWER_SECONDS = 0.5
ANSWER_BYTES = 1024 * 1024
# Rows read at once: an answer cut short by its budget has read few it does not use.
CHUNK_ROWS = 100
_MAC_BYTES = 16


def _mac(key: str, downstream: str, position: bytes) -> bytes:
    message = downstream.encode() + b"\0" + position
    return hmac.new(key.encode(), message, hashlib.sha256).digest()[:_MAC_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Position:
    """Where a reader stands: after the delivery settled at `at` whose id is `key`, of the
    downstream made at `made` (the store's mark; None: a cursor of a release before it)."""

    at: float = 0.0
    key: str = ""
    made: float | None = None

    @property
    def place(self) -> tuple[float, str]:
        return self.at, self.key


START = Position()


def cursor(keys: list[str], downstream: str, at: Position) -> str:
    """An opaque cursor for the position `at` of `downstream`, signed with the newest key."""
    raw = orjson.dumps([at.at, at.key, at.made])
    return f"{_b64(raw)}.{_b64(_mac(keys[-1], downstream, raw))}"


def position(keys: list[str], downstream: str, given: str | None) -> Position:
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
    at, key, *made = orjson.loads(raw)
    return Position(float(at), str(key), float(made[0]) if made else None)


class Waiting:
    """How many pull requests each app has waiting in this process."""

    def __init__(self, per_app: int = WAITING_PER_APP) -> None:
        self.per_app = per_app
        self.open: Counter[str] = Counter()

    def take(self, holder: str) -> None:
        if self.open[holder] >= self.per_app:
            raise Overloaded(
                f"this app has {self.per_app} pull requests waiting (all its keys together)"
            )
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
    # Each event's delivery id: the `webhook-id` a delivery of it carries, in data's order.
    ids: list[str] = field(default_factory=list)


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
    made = await prepare(downstream, job, lambda: downstream.default_body(job))
    return None if isinstance(made, Refused) else orjson.loads(made.body)


class Budget:
    """What one answer may still spend: time shaping (from now) and bytes of events. The
    first event always has room, so that every answer moves its cursor on."""

    def __init__(
        self,
        seconds: float = ANSWER_SECONDS,
        size: int = ANSWER_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._until = clock() + seconds
        self._left = size
        self._empty = True

    @property
    def spent(self) -> bool:
        """Its time is up."""
        return self._clock() >= self._until

    def take(self, size: int) -> bool:
        """Room for an event of `size` bytes, then counted; the first always has room."""
        if size > self._left and not self._empty:
            return False
        self._left -= size
        self._empty = False
        return True


async def read_events(
    store: Store,
    keys: list[str],
    downstream: Downstream,
    after: Position,
    limit: int,
    wait: float,
) -> Page:
    """Up to `limit` events after `after`, oldest first, within an answer's budget (its
    cursors signed with `keys`, the relay's, newest last); none yet, waits up to `wait` s."""
    found, until = await _first_rows(store, downstream.name, after, min(limit, CHUNK_ROWS), wait)
    data: list[Any] = []
    ids: list[str] = []
    last = Position(after.at, after.key, found.made)
    budget, left = Budget(), limit
    while found.rows and found.made == last.made:
        for row in found.rows:
            # Checked between events (an event's shaping is never cut), after the first.
            if left < limit and budget.spent:
                return Page(data, cursor(keys, downstream.name, last), ids)
            event = await shaped(downstream, row)
            if event is not None:
                if not budget.take(len(orjson.dumps(event))):
                    # Its cursor stays before it: the next answer starts with it.
                    return Page(data, cursor(keys, downstream.name, last), ids)
                data.append(event)
                ids.append(row.id)
            last = Position(row.at, row.id, found.made)  # a filtered one is passed too
            left -= 1
            await asyncio.sleep(0)  # the event loop's other work, between two events
        if not left or len(found.rows) < CHUNK_ROWS:
            break
        chunk = min(left, CHUNK_ROWS)
        found = await reads.pulled(store, downstream.name, last.place, until, chunk)
    return Page(data, cursor(keys, downstream.name, last), ids)


async def _first_rows(
    store: Store, name: str, after: Position, chunk: int, wait: float
) -> tuple[Readable, float]:
    """The first rows after `after` (waiting up to `wait` s for one), and the moment the
    rows read settled by."""
    deadline = time.monotonic() + min(wait, MAX_WAIT_SECONDS)
    while True:
        until = time.time() - SETTLE_SECONDS
        found = await reads.pulled(store, name, after.place, until, chunk)
        if after.made is not None and after.made != found.made:
            raise MalformedRequest(
                "after: a cursor of an earlier downstream of this name, removed since:"
                " read this one from its start, without after"
            )
        if found.rows or time.monotonic() >= deadline:
            return found, until
        await asyncio.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
