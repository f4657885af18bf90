"""The CloudEvents webhook handshake on the fan-out's path. Its endpoint is asked by
receiver/destinations/handshake.py; the verdict is the store's (the downstream's row), shared
by every process and replica and kept across restarts.

Before each attempt of a CloudEvents webhook its verdict is read: allowed for its endpoint
as it is now, the attempt goes, within the rate allowed (a rate `validate` lowered on any
process is heard at the next attempt); else its endpoint is asked, once (its lane sends one
attempt at a time while unasked). An answer that does not allow the relay pauses the
downstream: its deliveries held, the app and the operator told once. No answer (the
connection, a timeout, a 5xx) is that attempt's failure, retried on its schedule like any
other. A paused downstream's endpoint is asked again on its own, on
`advanced.delivery.handshake_ask_again_schedule`, by whichever replica takes the turn, and
released as soon as it allows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial

from receiver.alerts.hooks import Alerts
from receiver.config import Downstream
from receiver.config.sections import DeliveryConfig
from receiver.deliveries import transactions as delivery_story
from receiver.deliveries.fanout.connections import validate
from receiver.deliveries.fanout.lanes import Lane
from receiver.downstreams import transactions as downstream_transactions
from receiver.downstreams.directory import Directory
from receiver.outbox.rules.delivery import Answer, Verdict, asked_of
from receiver.wiring.worker_parts import WorkerParts

# Past its timeout, how long a replica's turn to ask a paused endpoint again is its own.
TURN_SLACK_SECONDS = 5.0


async def keep_verdict(
    parts: WorkerParts, rules: DeliveryConfig, directory: Directory, d: Downstream, found: Verdict
) -> tuple[int, bool]:
    """What its endpoint answered, kept for every replica: allowed, what a refusal held is
    queued again; refused, it is paused. (How many deliveries were queued, whether this
    paused it.)"""
    of, store = asked_of(d.url, directory.origin), parts.store
    if found.allowed:
        queued = await downstream_transactions.handshake_allowed(
            store, d.name, of, found.per_minute
        )
        if queued:
            parts.wakers.wake_deliveries()
        return queued, False
    schedule, subscribers = rules.handshake_ask_again_schedule, directory.subscribers
    paused = await delivery_story.handshake_refused(
        store, d.name, of, found.reason, schedule, subscribers
    )
    if paused:
        parts.log.warning("downstream.not_validated", downstream=d.name, reason=found.reason)
    return 0, paused


class Handshakes:
    """The fan-out's side of the handshake: the verdict before an attempt, and the paused
    downstreams' endpoints asked again."""

    def __init__(
        self,
        parts: WorkerParts,
        rules: DeliveryConfig,
        directory: Directory,
        judged: Callable[[Downstream], bool],
        alerts: Alerts,
    ) -> None:
        """`judged`: whether a downstream's URL came through the API (its targets judged)."""
        self.parts, self.rules, self.directory = parts, rules, directory
        self.judged, self.alerts = judged, alerts
        self._read_at = float("-inf")
        self._asking: dict[str, asyncio.Task[None]] = {}  # paused ones asked again

    async def before(self, d: Downstream, lane: Lane) -> Verdict | Answer:
        """Whether an attempt of `d` may go: its verdict as the store has it for its endpoint
        as it is now, else its endpoint's answer (an Answer: none, the attempt failed). Its
        lane takes the rate allowed."""
        kept = await downstream_transactions.handshake(self.parts.store, d.name)
        if kept is not None and kept.refusal is None and kept.of == self._of(d):
            found: Verdict | Answer = Verdict(True, per_minute=kept.per_minute)
        else:  # never asked, asked of another URL, or enabled again by hand since a refusal
            found = await self._ask(d)
        if isinstance(found, Verdict) and found.allowed:
            lane.allowed_per_second, lane.unasked = found.per_second, False
        return found

    async def tick(self) -> None:
        """Every scan: each paused downstream whose wait is over asked again, in a task of
        its own, by the replica that takes its turn."""
        now = time.monotonic()
        if now - self._read_at < self.rules.outbox_scan_seconds:
            return
        self._read_at = now
        store = self.parts.store
        try:
            for name in await downstream_transactions.handshakes_due(store):
                d = await self.directory.get(name)
                if d is None or not d.needs_handshake or name in self._asking:
                    continue
                within = d.timeout + TURN_SLACK_SECONDS
                if await downstream_transactions.take_handshake_turn(store, name, within):
                    asking = asyncio.create_task(self._ask_again(d))
                    self._asking[name] = asking
                    asking.add_done_callback(partial(self._asked, name))
        except Exception:
            self.parts.log.exception("handshake.scan_failed")

    def _asked(self, name: str, _: asyncio.Task[None]) -> None:
        self._asking.pop(name, None)

    async def close(self) -> None:
        for asking in list(self._asking.values()):
            asking.cancel()
        await asyncio.gather(*self._asking.values(), return_exceptions=True)

    def _of(self, d: Downstream) -> str:
        return asked_of(d.url, self.directory.origin)

    async def _ask(self, d: Downstream) -> Verdict | Answer:
        """Its endpoint asked (one OPTIONS), and a verdict kept; a pause told once."""
        origin = self.directory.origin
        found = await validate(self.rules, self.directory, d, self.judged(d), origin)
        if isinstance(found, Verdict):
            _, paused = await keep_verdict(self.parts, self.rules, self.directory, d, found)
            if paused:
                await self.alerts.paused(d.name, found.reason)
        return found

    async def _ask_again(self, d: Downstream) -> None:
        """A paused downstream's endpoint asked again: allowed, it is released; no answer,
        asked again after the same wait."""
        try:
            found = await self._ask(d)
            if isinstance(found, Answer):
                schedule = self.rules.handshake_ask_again_schedule
                await downstream_transactions.handshake_unanswered(
                    self.parts.store, d.name, schedule
                )
            self.parts.log.info(
                "downstream.asked_again",
                downstream=d.name,
                allowed=isinstance(found, Verdict) and found.allowed,
            )
        except Exception:
            self.parts.log.exception("handshake.ask_again_failed", downstream=d.name)
