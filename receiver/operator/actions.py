"""What an operator does to the relay, whichever door they come in by (the admin API, the
console, the command line): each action once, with its wake-up, its metric and its log line."""

from __future__ import annotations

from receiver.kernel.errors import Overloaded, StoreError
from receiver.kernel.service import Service
from receiver.keys.stories import sessions
from receiver.tasks.submit import submit

# The names the doors call (receiver/web/), kept while they move: each is the story or the
# submit itself, nothing in between.
submit_task = submit
end_session = sessions.end
session_ended = sessions.ended


async def ready(service: Service) -> None:
    """Raise, saying why, unless this process takes work now: not draining after SIGTERM
    (Overloaded), the store answers and holds every migration this release ships
    (StoreError)."""
    if service.draining():
        raise Overloaded("draining: this process is shutting down")
    if lacking := await service.store.ready():
        raise StoreError(f"migrations not applied yet: {', '.join(map(str, lacking))}")
