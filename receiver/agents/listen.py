"""`subscriptions/listen` (the 2026-07-28 protocol era): what a listening agent hears of.
Its events come from the process's one reader of the change feed, so any replica serves
any listen and the door keeps nothing between requests. No I/O, no SDK import.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from receiver.agents.resources import task_id_of
from receiver.keys.rules import Caller
from receiver.stream.reads import Change

# Tasks whose last state one stream remembers, to tell a state change from progress; one
# forgotten is heard of as a list change again (a change is a hint to read again).
KNOWN_STATES = 10_000


@dataclass(frozen=True)
class Heard:
    """What one change means to a listener: its `task://` resources that changed, and
    whether its task list did."""

    updated: tuple[str, ...] = ()
    list_changed: bool = False


class Listening:
    """What one listen asked for that the relay serves, and which changes it hears of: of
    the tasks its key may read only (another's task never fires, as one that does not exist)."""

    def __init__(self, caller: Caller, uris: Iterable[str], task_list: bool) -> None:
        reads = caller.allows("tasks:read")
        self._caller = caller
        self._uris: dict[str, list[str]] = {}  # task id -> the URIs naming it
        for uri in uris if reads else ():
            task_id = task_id_of(uri)
            if task_id is not None and uri not in self._uris.get(task_id, ()):
                self._uris.setdefault(task_id, []).append(uri)
        self.task_list = task_list and reads
        self._states: OrderedDict[str, str] = OrderedDict()

    @property
    def uris(self) -> list[str]:
        """The resources honored: `task://` ones, and only for a key that reads tasks."""
        return [uri for named in self._uris.values() for uri in named]

    def hear(self, change: Change) -> Heard:
        # A task's own row: delivery attempts concern the downstreams, not its resource.
        if change.kind != "task" or not self._caller.owns(change.owner_key):
            return Heard()
        updated = tuple(self._uris.get(change.task_id, ()))
        return Heard(updated, self.task_list and self._moved(change))

    def _moved(self, change: Change) -> bool:
        """Whether the task is new to this stream or in another state than last heard."""
        state = str(change.data.get("state"))
        before = self._states.pop(change.task_id, None)
        self._states[change.task_id] = state
        if len(self._states) > KNOWN_STATES:
            self._states.popitem(last=False)
        return before != state
