"""Polls handed over by callbacks: a callback whose poll is due at once leases it in its own
transaction (receiver/persist/observations.py), and this process's poller runs it as soon
as it is handed over, with no claim transaction and no wait for the poller's next turn."""

from __future__ import annotations

import asyncio

from receiver.persist import PollJob


class PollHandoff:
    """At most `limit` handed polls waiting or running; past it, or while no poller runs in
    this process (`limit` 0), a callback leaves its poll to the poller's own claim."""

    def __init__(self) -> None:
        self._jobs: asyncio.Queue[PollJob] = asyncio.Queue()
        self._busy = 0
        self.limit = 0

    def lease_for(self, owner: str, seconds: float) -> tuple[str, float] | None:
        """What a callback's transaction should lease its poll with, if there is room."""
        return (owner, seconds) if self._busy < self.limit else None

    def give(self, job: PollJob) -> None:
        self._busy += 1
        self._jobs.put_nowait(job)

    async def take(self) -> PollJob:
        return await self._jobs.get()

    def done(self) -> None:
        self._busy -= 1
