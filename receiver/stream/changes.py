"""One reader of the store's change feed per process, shared by every open live stream:
an idle stream costs no store read. Each change goes to every stream through a bounded
queue; a stream too far behind is ended, and its client catches up with `Last-Event-ID`.
The reader also ends the streams whose key, console session or share link ended on any
replica, checking before it hands over what a read found.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from receiver.config.sections import ServerConfig
from receiver.kernel.observability.logs import Log
from receiver.kernel.observability.metrics import Metrics
from receiver.kernel.store import Store
from receiver.keys.transactions import keys
from receiver.stream.caps import BY_ADMIN_TOKEN, Caps, Holder, Pools, lapsed
from receiver.stream.reads import Change

POLL_SECONDS = 0.5
# How often the holders of quiet streams are checked against the store: a key revoked on
# another replica ends its streams here within this and a tick.
RIGHTS_SECONDS = 1.0
# A change is stamped before its transaction commits, so one that commits late (a slow
# write, another replica) can carry a time a reader has already passed: each read looks
# back this far and leaves out what it already sent.
LOOK_BACK_SECONDS = 5.0
READ_LIMIT = 500
# Changes waiting for one stream before it is ended as too far behind.
BEHIND_LIMIT = 1000


class Feed:
    """Which changes are new to this stream; no I/O, so its rules are unit-tested."""

    def __init__(self, since: float, resume_key: str = "") -> None:
        self.cursor = since
        self._resume = (since, resume_key)  # what the client saw before it reconnected
        self._sent: dict[tuple[str, str, float], float] = {}
        self._behind = False

    @property
    def read_from(self) -> float:
        # Behind (the last read was full): catch up from the cursor before looking back.
        return self.cursor if self._behind else self.cursor - LOOK_BACK_SECONDS

    def take(self, found: list[Change]) -> list[Change]:
        """The changes of one read (at most READ_LIMIT, oldest first) not sent before."""
        self._behind = len(found) >= READ_LIMIT
        fresh = []
        for change in found:
            mark = (change.kind, change.key, change.at)
            if mark in self._sent or (change.at, change.key) <= self._resume:
                continue
            self._sent[mark] = change.at
            fresh.append(change)
            self.cursor = max(self.cursor, change.at)
        horizon = self.cursor - LOOK_BACK_SECONDS
        self._sent = {mark: at for mark, at in self._sent.items() if at >= horizon}
        return fresh


@dataclass(eq=False)
class Subscription:
    client: str
    holder: Holder = BY_ADMIN_TOKEN
    # None, last: the server is shutting down, or the holder's right ended: the stream ends.
    queue: asyncio.Queue[Change | None] = field(default_factory=lambda: asyncio.Queue(BEHIND_LIMIT))
    dropped: bool = False  # fell BEHIND_LIMIT changes behind: the stream ends
    ended: bool = False  # its key revoked, its session or link ended: the stream ends

    @property
    def open(self) -> bool:
        return not (self.dropped or self.ended)

    def end(self) -> None:
        self.ended = True
        # Wakes the stream waiting on its queue; one reading a backlog checks `open` first.
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)


def fan_out(change: Change, subscriptions: set[Subscription]) -> None:
    """Hand `change` to every stream; one whose queue is full is marked dropped."""
    for sub in subscriptions:
        if not sub.open:
            continue
        try:
            sub.queue.put_nowait(change)
        except asyncio.QueueFull:
            sub.dropped = True


def end_all(subscriptions: set[Subscription]) -> None:
    """Tell every stream to end (the server is shutting down)."""
    for sub in subscriptions:
        try:
            sub.queue.put_nowait(None)
        except asyncio.QueueFull:
            sub.dropped = True  # it is reading a backlog: it sees this next


class ChangeHub:
    def __init__(
        self,
        store: Store,
        log: Log,
        metrics: Metrics,
        pools: Pools,
        draining: Callable[[], bool],
    ) -> None:
        self.store, self.log, self.metrics, self.pools = store, log, metrics, pools
        self._draining = draining
        self.subscriptions: set[Subscription] = set()
        self._wanted = asyncio.Event()
        self._recheck = asyncio.Event()
        self._ended = False

    def subscribe(self, client: str, holder: Holder = BY_ADMIN_TOKEN) -> Subscription:
        """Overloaded past the holder's pool's caps."""
        self.pools.take(client, holder)
        sub = Subscription(client, holder)
        self.subscriptions.add(sub)
        self._wanted.set()
        self.metrics.streams_open.set(len(self.pools))
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self.subscriptions:
            self.subscriptions.discard(sub)
            self.pools.give_back(sub.client, sub.holder)
            self.metrics.streams_open.set(len(self.pools))

    def recheck(self) -> None:
        """A key was revoked or a session ended here: check the streams' holders now."""
        self._recheck.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Read the feed once a tick while any stream is open; sleep while none is."""
        feed: Feed | None = None
        checked = 0.0
        while not stopping.is_set():
            if not self.subscriptions:
                feed = None  # the next stream starts a new read from its own moment
                self._wanted.clear()
                self._recheck.clear()  # no stream to check
                await _first(self._wanted.wait(), stopping.wait())
                continue
            if self._draining() and not self._ended:
                # Streams would otherwise hold the shutdown for its whole grace period.
                end_all(self.subscriptions)
                self._ended = True
            if self._recheck.is_set() or time.monotonic() - checked >= RIGHTS_SECONDS:
                self._recheck.clear()
                checked = time.monotonic()
                await self.end_lapsed()
            if feed is None:
                feed = Feed(time.time() - LOOK_BACK_SECONDS)
            # Not at start-up: it and the answers' models it reads through come with the API,
            # whose routes open every stream (receiver/app/asgi.py).
            from receiver.stream import reads as stream_reads

            try:
                found = await stream_reads.changes(self.store, feed.read_from, None, READ_LIMIT)
            except Exception:
                # The store is away for a while: streams keep their connections and places.
                self.log.warning("stream.store_unavailable")
                found = []
            fresh = feed.take(found)
            if fresh:
                # Read after the feed: a right ended before a change was read ends its streams
                # before the change is handed over.
                checked = time.monotonic()
                await self.end_lapsed()
            for change in fresh:
                fan_out(change, self.subscriptions)
            if len(found) >= READ_LIMIT:
                continue  # a full read: more is waiting, read again at once
            await _first(asyncio.sleep(POLL_SECONDS), stopping.wait(), self._recheck.wait())

    async def end_lapsed(self, among: list[Subscription] | None = None) -> None:
        """End every stream (of `among`) whose key, session or link has ended."""
        subs = [s for s in (self.subscriptions if among is None else among) if s.open]
        key_ids = {s.holder.key_id for s in subs if s.holder.key_id is not None}
        session_ids = {s.holder.session_id for s in subs if s.holder.session_id is not None}
        try:
            gone_keys, gone_sessions = await keys.gone(self.store, key_ids, session_ids)
        except Exception:
            # Checked again next time; the times (a session's end) are checked anyway.
            self.log.warning("stream.store_unavailable")
            gone_keys, gone_sessions = set(), set()
        now = time.time()
        ended = [s for s in subs if lapsed(s.holder, now, gone_keys, gone_sessions)]
        for sub in ended:
            sub.end()
        if ended:
            self.log.info("stream.rights_ended", streams=len(ended))


async def _first(*waits: Awaitable[object]) -> None:
    """Until the first of `waits` is done; the others are cancelled."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()


def stream_pools(server: ServerConfig) -> Pools:
    """The live streams' caps, as `[server]` sets them."""
    return Pools(
        Caps(server.max_streams, server.max_streams_per_client),
        Caps(
            server.max_share_streams,
            server.max_streams_per_client,
            ("server.max_share_streams", "server.max_streams_per_client"),
        ),
        server.max_streams_per_share_link,
    )
