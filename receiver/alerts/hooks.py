"""The fan-out's transitions told as alerts: a breaker opened or a delivery dead (failing),
a downstream disabled, a delivery through after a problem told of (recovered). The worker
calls one method a transition; whatever fails here is logged and never stops a delivery.

Each process skips the store while it knows an alert is not due (its own quiet window, or
the one the store answered), so a downstream dead-lettering thousands of deliveries costs a
transaction per quiet window, not one per dead letter; the store decides for every replica.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from receiver.alerts import transactions
from receiver.config.sections import AlertsConfig
from receiver.downstreams.directory import Directory
from receiver.kernel.observability.logs import Log
from receiver.kernel.store import Store
from receiver.lifecycle.rules.catalog import DISABLED, FAILING, RECOVERED
from receiver.lifecycle.rules.records import Attempt
from receiver.lifecycle.rules.routing import held_reasons, owner_of
from receiver.lifecycle.rules.wakeups import Work


class Alerts:
    def __init__(
        self,
        store: Store,
        log: Log,
        wake: Callable[[Work], None],
        settings: AlertsConfig,
        scan_seconds: float,
        directory: Directory,
    ) -> None:
        self.store, self.log, self.wake, self.directory = store, log, wake, directory
        self.settings = settings
        self._ask_after: dict[tuple[str, str], float] = {}
        # The downstreams with a problem told of and no recovery yet, read this often: a
        # replica that did not send the failing alert still tells the recovery.
        self._every = scan_seconds
        self._open: set[str] = set()
        self._open_read = float("-inf")
        self._said_unknown = False

    async def breaker(self, name: str, state: str) -> None:
        if state == "open":
            await self._tell(name, FAILING, "its circuit breaker opened: attempts keep failing")

    async def ended(self, attempt: Attempt, kept: bool, disabled: bool) -> None:
        name = attempt.downstream
        if not self._could_tell(name):
            return  # no alert downstream could take it: not even a read of the store
        if disabled:
            await self._tell(name, DISABLED, "the relay stopped delivering to it")
        elif attempt.outcome == "dead" and kept:
            why = attempt.error or "no reason given"
            await self._tell(name, FAILING, f"a delivery went dead: {why}")
        elif attempt.outcome == "succeeded" and await self._open_problem(name):
            await self._tell(name, RECOVERED, "a delivery went through again")

    async def _open_problem(self, name: str) -> bool:
        now = time.monotonic()
        if now - self._open_read >= self._every:
            self._open_read = now
            try:
                self._open = await transactions.open_problems(self.store)
            except Exception:
                self.log.exception("alerts.read_failed")
        return name in self._open

    def _could_tell(self, name: str) -> bool:
        """The operator's alert downstream, or the app's that `name` may belong to."""
        return bool(self.settings.downstream) or owner_of(name) is not None

    async def _tell(self, name: str, kind: str, reason: str) -> None:
        if not self._could_tell(name):
            return
        if not self.directory.knows(name):
            return  # removed: its last rows end dead, and that is no news
        operator = self.settings.downstream
        if operator and not self.directory.knows(operator) and not self._said_unknown:
            self._said_unknown = True  # once a process: a typo in `[alerts]` is told
            self.log.warning("alerts.no_such_downstream", downstream=operator)
        if time.time() < self._ask_after.get((name, kind), 0.0):
            return
        plan = transactions.Plan(
            self.settings.downstream,
            self.settings.quiet_minutes * 60,
            self.directory.knows,
            held_reasons(self.directory.subscriptions),
        )
        try:
            told = await transactions.alert(self.store, name, kind, reason, plan)
        except Exception:
            self.log.exception("alerts.failed", downstream=name, alert=kind)
            return
        if kind == RECOVERED:
            self._open.discard(name)
        else:
            self._ask_after[(name, kind)] = told.ask_after
            if told.sent:
                self._open.add(name)
        if told.sent:
            self.log.warning("alert.sent", downstream=name, alert=kind, reason=reason)
            self.wake(Work.DELIVERIES)
        elif kind != RECOVERED:  # once a quiet window in each process: the cache above
            self.log.info("alert.quiet", downstream=name, alert=kind, until=told.ask_after)
