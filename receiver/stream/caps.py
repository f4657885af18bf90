"""Who may open one more live stream, and whose right each open stream rests on; no I/O.
Operators' streams and share links' are counted in two pools, so anonymous viewers never
fill the operators'; a share link has its own cap, so one link cannot take its whole pool.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from receiver.kernel.errors import Overloaded


@dataclass(frozen=True)
class Holder:
    """What a stream was opened with. The admin token's own streams name nothing: the token
    is the process's config, and a new one takes a restart, which ends every stream."""

    key_id: str | None = None  # the API key (or the key that made the share link)
    session_id: str | None = None  # the console session
    until: float = math.inf  # (Unix time) the session or link ends by itself then
    link: str | None = None  # a share link's id: the stream is an anonymous viewer's


# The admin token's streams: nothing in the store ends them (a new token ends the process).
BY_ADMIN_TOKEN = Holder()


def lapsed(holder: Holder, now: float, gone_keys: set[str], gone_sessions: set[str]) -> bool:
    """The holder's right has ended: its key revoked, its session logged out, or its time up."""
    return (
        holder.until <= now
        or (holder.key_id is not None and holder.key_id in gone_keys)
        or (holder.session_id is not None and holder.session_id in gone_sessions)
    )


class Caps:
    """A pool's cap on streams open at once, and on those of one client within it."""

    def __init__(
        self,
        total: int,
        per_client: int,
        names: tuple[str, str] = ("server.max_streams", "server.max_streams_per_client"),
        who: str = "this client",
    ) -> None:
        self.total, self.per_client, self._names, self._who = total, per_client, names, who
        self.open: Counter[str] = Counter()

    def take(self, client: str) -> None:
        if sum(self.open.values()) >= self.total:
            raise Overloaded(f"{self.total} live streams are open ({self._names[0]})")
        if self.open[client] >= self.per_client:
            raise Overloaded(
                f"{self._who} has {self.per_client} live streams open ({self._names[1]})"
            )
        self.open[client] += 1

    def give_back(self, client: str) -> None:
        self.open[client] -= 1
        if self.open[client] <= 0:
            del self.open[client]  # nothing kept for a client that is gone

    def __len__(self) -> int:
        return sum(self.open.values())


class Pools:
    """The operators' pool, the share links' pool, and each link's cap within the latter."""

    def __init__(self, operators: Caps, shares: Caps, per_link: int) -> None:
        self.operators, self.shares = operators, shares
        names = ("server.max_share_streams", "server.max_streams_per_share_link")
        self.links = Caps(shares.total, per_link, names, "this share link")

    def take(self, client: str, holder: Holder) -> None:
        if holder.link is None:
            self.operators.take(client)
            return
        self.shares.take(client)
        try:
            self.links.take(holder.link)  # the "client" of this cap is the link
        except Overloaded:
            self.shares.give_back(client)
            raise

    def give_back(self, client: str, holder: Holder) -> None:
        if holder.link is None:
            self.operators.give_back(client)
        else:
            self.shares.give_back(client)
            self.links.give_back(holder.link)

    def __len__(self) -> int:
        return len(self.operators) + len(self.shares)
