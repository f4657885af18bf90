"""The fan-out's transitions told as alerts: a breaker opened or a delivery dead (failing),
a downstream disabled, a delivery through after a problem told of (recovered). The worker
calls one method a transition, and `tick` on each round; whatever fails here is logged and
never stops a delivery.

Each process keeps the marks it last saw (read again every scan, and as the store answers
it) and skips the store for a transition the store already holds within its quiet window,
so a downstream dead-lettering thousands of deliveries costs a transaction a window, and a
success costs none unless a problem was told; the store decides for every replica. `tick`
also decides each transition held back once its window is over, on whichever replica reads
it first (the row lock makes that one): a held alert outlives a restart in its row.

What is told waits in its app's digest of that kind; `tick` sends each digest once due (its
wait over, and a window after the one before), on whichever replica locks it first: one
message a kind per app per window, naming every downstream told in it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from receiver.alerts import transactions
from receiver.alerts.rules import Mark, digest_due, quiet_until, worth_asking
from receiver.config.sections import AlertsConfig
from receiver.downstreams.directory import Directory
from receiver.kernel.observability.logs import Log
from receiver.kernel.store import Store
from receiver.outbox.rules.delivery import Attempt, owner_of
from receiver.outbox.rules.event_types import DISABLED, FAILING, RECOVERED


class Alerts:
    def __init__(
        self,
        store: Store,
        log: Log,
        wake_deliveries: Callable[[], None],
        settings: AlertsConfig,
        scan_seconds: float,
        directory: Directory,
    ) -> None:
        self.store, self.log, self.directory = store, log, directory
        self.wake_deliveries = wake_deliveries
        self.settings = settings
        self._quiet = settings.quiet_minutes * 60
        self._wait = settings.digest_wait_seconds
        # The marks of the downstreams with a problem told or a transition held, as this
        # process last saw them, read again this often: a replica that did not send the
        # failing alert still tells the recovery.
        self._every = scan_seconds
        self._marks: dict[str, Mark] = {}
        self._read_at = float("-inf")
        self._nowhere: dict[str, float] = {}  # no alert downstream for it until then
        self._disabled: set[str] | None = None  # as the fan-out last read them
        self._said_unknown = False

    async def breaker(self, name: str, state: str) -> None:
        if state == "open":
            await self._tell(name, FAILING, "its circuit breaker opened: attempts keep failing")

    async def ended(self, attempt: Attempt, kept: bool, disabled: bool) -> None:
        name = attempt.downstream
        if not self._could_tell(name):
            return  # no alert downstream could take it: not even a look at the marks
        if disabled:
            await self._tell(name, DISABLED, "the relay stopped delivering to it")
        elif attempt.outcome == "dead" and kept:
            why = attempt.error or "no reason given"
            await self._tell(name, FAILING, f"a delivery went dead: {why}")
        elif attempt.outcome == "succeeded":
            await self._tell(name, RECOVERED, "a delivery went through again")

    async def paused(self, name: str, reason: str) -> None:
        """Its endpoint's answer to the CloudEvents handshake did not allow the relay: paused,
        its endpoint asked again on its own (the replica that paused it tells, once)."""
        await self._tell(name, DISABLED, f"paused until its endpoint allows it: {reason}")

    async def seen_disabled(self, disabled: set[str]) -> None:
        """The downstreams disabled now, as the fan-out reads them every scan: one newly
        disabled (by an operator, or by another replica) is told, the store deciding once
        for every replica; those disabled before this process first looked are no news."""
        fresh = disabled - self._disabled if self._disabled is not None else set()
        self._disabled = set(disabled)
        for name in sorted(fresh):
            await self._tell(name, DISABLED, "disabled by an operator")

    async def tick(self) -> None:
        """Every scan: the marks read again, and each transition held back past its window
        decided (told if it is news)."""
        now = time.monotonic()
        if now - self._read_at < self._every:
            return
        self._read_at = now
        if not (self.settings.downstream or await self.directory.any_owned()):
            return  # no alert could go anywhere
        try:
            self._marks = await transactions.live_marks(self.store)
        except Exception:
            self.log.exception("alerts.read_failed")
            return
        wall = time.time()
        for name, mark in list(self._marks.items()):
            ended = mark.held_kind is not None and wall >= quiet_until(mark, self._quiet)
            if ended and await self.directory.knows(name):
                await self._decided(name, mark.held_kind or "", self._window_ended(name), True)
        await self._send_digests()

    async def _send_digests(self) -> None:
        """Each digest whose time has come, sent (or found sent by another replica)."""
        try:
            waiting = await transactions.waiting_digests(self.store)
            for app_id, kind, since, sent_at in waiting:
                if time.time() < digest_due(since, sent_at, self._wait, self._quiet):
                    continue
                sent = await transactions.send_digest(self.store, app_id, kind, self._plan())
                if sent is not None:
                    self._sent(sent)
        except Exception:
            self.log.exception("alerts.digest_failed")

    def _sent(self, sent: transactions.Digest) -> None:
        one = sent.about[0] if len(sent.about) == 1 else None
        count = len(sent.about)
        self.log.warning("alert.sent", alert=sent.kind, app=sent.app, downstream=one, count=count)
        self.wake_deliveries()

    def _could_tell(self, name: str) -> bool:
        """The operator's alert downstream, or the app's that `name` may belong to."""
        return bool(self.settings.downstream) or owner_of(name) is not None

    def _plan(self) -> transactions.Plan:
        return transactions.Plan(
            self.settings.downstream,
            self._quiet,
            self._wait,
            self.directory.known_in,
            self.directory.subscribers,
        )

    def _window_ended(self, name: str) -> Awaitable[transactions.Told]:
        return transactions.window_ended(self.store, name, self._plan())

    async def _tell(self, name: str, kind: str, reason: str) -> None:
        now = time.time()
        if not self._could_tell(name) or now < self._nowhere.get(name, 0.0):
            return
        # Before the directory is asked: a success of a downstream with no problem (most of
        # them) reads no row, not even one the directory's cache let go.
        if not worth_asking(self._marks.get(name), kind, now, self._quiet):
            return
        if not await self.directory.knows(name):
            return  # removed: its last rows end dead, and that is no news
        operator = self.settings.downstream
        if operator and not self._said_unknown and not await self.directory.knows(operator):
            self._said_unknown = True  # once a process: a typo in `[alerts]` is told
            self.log.warning("alerts.no_such_downstream", downstream=operator)
        plan = self._plan()
        await self._decided(name, kind, transactions.alert(self.store, name, kind, reason, plan))

    async def _decided(
        self, name: str, kind: str, deciding: Awaitable[transactions.Told], ending: bool = False
    ) -> None:
        """`ending`: the window of a transition held back is over."""
        try:
            told = await deciding
        except Exception:
            self.log.exception("alerts.failed", downstream=name, alert=kind)
            return
        if told.mark is None:
            self._nowhere[name] = time.time() + transactions.NOWHERE_SECONDS
            return
        self._marks[name] = told.mark
        if told.sent is not None:  # named in its app's digest, sent by `tick` once due
            self.log.info("alert.queued", downstream=name, alert=told.sent, reason=told.reason)
        elif told.mark.held_kind is not None:  # held for the window's end
            until = quiet_until(told.mark, self._quiet)
            self.log.info("alert.quiet", downstream=name, alert=kind, until=until)
        elif ending and told.decided:  # its state at the window's end is the one last told
            self.log.info("alert.unchanged", downstream=name, alert=kind)
