"""What a `subscriptions/listen` stream hears of (receiver/agents/listen.py): its key's tasks
only, the `task://` resources it named, and its task list's changes of state."""

from __future__ import annotations

from receiver.agents import listen
from receiver.agents.listen import Heard, Listening
from receiver.keys.rules import Caller
from receiver.stream.reads import Change

RENDER = Caller("key_1", "agent", frozenset({"tasks:read"}), app_id="app_1", app="render")
OTHER_KEY_SAME_APP = Caller("key_2", "b", frozenset({"tasks:read"}), app_id="app_1")
SUBMIT_ONLY = Caller("key_3", "c", frozenset({"tasks:submit"}), app_id="app_1")


def task(task_id: str, state: str, owner: str | None = "app_1", at: float = 1.0) -> Change:
    return Change("task", at, task_id, task_id, {"id": task_id, "state": state}, owner)


def test_a_named_task_is_announced_at_each_change_and_the_list_at_each_state() -> None:
    heard = Listening(RENDER, ["task://t1", "relay://kinds"], task_list=True)
    assert heard.uris == ["task://t1"]  # a static resource never changes: not honored
    assert heard.hear(task("t1", "queued")) == Heard(("task://t1",), list_changed=True)
    assert heard.hear(task("t1", "running", at=2)) == Heard(("task://t1",), True)
    # Progress within a state: the resource changed, the list did not.
    assert heard.hear(task("t1", "running", at=3)) == Heard(("task://t1",), False)
    # A task not named: only the list.
    assert heard.hear(task("t2", "queued")) == Heard((), True)


def test_another_apps_task_and_delivery_attempts_are_never_heard() -> None:
    heard = Listening(RENDER, ["task://t9"], task_list=True)
    assert heard.hear(task("t9", "queued", owner="app_2")) == Heard()
    assert heard.hear(task("t9", "queued", owner=None)) == Heard()
    attempt = Change("attempt", 1.0, "att_1", "t9", {}, None)
    assert heard.hear(attempt) == Heard()
    # Another key of the same app: the app's task.
    same_app = Listening(OTHER_KEY_SAME_APP, ["task://t9"], task_list=False)
    assert same_app.hear(task("t9", "queued")) == Heard(("task://t9",), False)


def test_a_key_that_cannot_read_tasks_is_honored_nothing() -> None:
    heard = Listening(SUBMIT_ONLY, ["task://t1"], task_list=True)
    assert heard.uris == [] and not heard.task_list
    assert heard.hear(task("t1", "queued")) == Heard()


def test_a_uri_named_twice_is_announced_once_and_known_states_are_bounded() -> None:
    heard = Listening(RENDER, ["task://t1", "task://t1", "task://bad/id"], task_list=True)
    assert heard.uris == ["task://t1"]
    for n in range(listen.KNOWN_STATES + 5):
        heard.hear(task(f"t{n}", "queued"))
    # The first ones were forgotten: heard of again as a list change.
    assert heard.hear(task("t0", "queued")).list_changed
    assert not heard.hear(task(f"t{listen.KNOWN_STATES}", "queued")).list_changed
