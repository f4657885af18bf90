"""One rule for which workers a recorded change wakes."""

from __future__ import annotations

import asyncio

from receiver.lifecycle.rules.polling import PollLease
from receiver.lifecycle.rules.records import PollJob, Recorded, Task
from receiver.lifecycle.rules.reports import PENDING
from receiver.wiring.handoff import PollHandoff, TaskChanges
from receiver.wiring.service import Work, work_after


def task(state: str) -> Task:
    return Task(
        "tsk_1", "image_to_video", state, "up", None, {}, [], None, None, 0, 0, None, None, 0
    )


def test_outbox_rows_wake_the_fan_out() -> None:
    recorded = Recorded("applied", task("running"), "evt_1", ["msg_1"])
    assert work_after(recorded, mirroring=False) == Work.DELIVERIES


def test_deliveries_handed_to_the_fan_out_wake_no_claim_but_the_others_do() -> None:
    recorded = Recorded("applied", task("running"), "evt_1", ["msg_1", "msg_2"])
    assert work_after(recorded, False, handed=frozenset({"msg_1", "msg_2"})) == Work.NONE
    assert work_after(recorded, False, handed=frozenset({"msg_1"})) == Work.DELIVERIES


def test_a_pending_claim_or_one_past_the_history_bound_wakes_the_poller() -> None:
    assert work_after(Recorded("history", task("running"), "evt_1", verdict=PENDING), False) == (
        Work.POLLS
    )
    assert work_after(Recorded("over_limit", task("running")), False) == Work.POLLS


def test_a_claim_that_leased_its_poll_hands_it_over_and_wakes_no_claim() -> None:
    job = PollJob("tsk_1", "video2video", "up", 0.0, 0)
    recorded = Recorded("history", task("running"), "evt_1", verdict=PENDING, poll=job)
    assert work_after(recorded, False) == Work.NONE


def test_a_success_wakes_the_mirror_only_while_mirroring_is_on() -> None:
    recorded = Recorded("applied", task("succeeded"), "evt_1", ["msg_1"])
    assert work_after(recorded, mirroring=True) == Work.DELIVERIES | Work.MIRRORS | Work.SUBMITS
    assert work_after(recorded, mirroring=False) == Work.DELIVERIES | Work.SUBMITS


def test_a_task_that_ends_wakes_the_submit_worker_for_it_left_room_under_the_cap() -> None:
    for state in ("succeeded", "failed", "cancelled"):
        assert Work.SUBMITS in work_after(Recorded("applied", task(state), "evt_1"), False)
    assert Work.SUBMITS not in work_after(Recorded("applied", task("running"), "evt_1"), False)
    ended_before = Recorded("history", task("failed"), "evt_1")
    assert Work.SUBMITS not in work_after(ended_before, False)


def test_without_a_cap_an_ending_task_leaves_the_submit_worker_asleep() -> None:
    ended = Recorded("applied", task("succeeded"), "evt_1", ["msg_1"])
    assert work_after(ended, mirroring=False, capped=False) == Work.DELIVERIES


def test_a_duplicate_or_a_judged_claim_wakes_nothing() -> None:
    assert work_after(Recorded("duplicate", task("running")), True) == Work.NONE
    judged = Recorded("history", task("succeeded"), "evt_1", verdict="confirmed")
    assert work_after(judged, True) == Work.NONE


def test_a_handoff_offers_leases_only_while_a_poller_runs_and_has_room() -> None:
    handoff, lease = PollHandoff(), PollLease("me", 30.0, 60.0, None)
    assert handoff.lease_for(lease) is None  # no poller in this process
    handoff.limit = 2
    job = PollJob("tsk_1", "video2video", "up", 0.0, 0)
    handoff.give(job)
    assert handoff.lease_for(lease) == lease
    handoff.give(job)
    assert handoff.lease_for(lease) is None  # full: the poller's claims take over
    handoff.done()
    assert handoff.lease_for(lease) == lease


def test_a_task_change_wakes_only_the_requests_waiting_on_that_task() -> None:
    async def go() -> tuple[bool, bool, bool]:
        changes = TaskChanges()
        mine = asyncio.create_task(changes.wait("tsk_1", 60))
        also_mine = asyncio.create_task(changes.wait("tsk_1", 60))
        other = asyncio.create_task(changes.wait("tsk_2", 0.01))
        await asyncio.sleep(0)  # every wait has begun
        changes.changed("tsk_1")
        return await mine, await also_mine, await other

    assert asyncio.run(go()) == (True, True, False)


def test_a_wait_that_runs_out_leaves_nothing_behind_and_a_later_change_wakes_no_one() -> None:
    changes = TaskChanges()

    async def go() -> tuple[bool, int, bool]:
        ran_out = await changes.wait("tsk_1", 0.01)
        left = len(changes._waiting)  # the wait that ran out is no longer registered
        changes.changed("tsk_1")  # nobody waits: nothing to do, nothing raised
        later = asyncio.create_task(changes.wait("tsk_1", 60))
        await asyncio.sleep(0)
        changes.changed("tsk_1")
        return ran_out, left, await later

    assert asyncio.run(go()) == (False, 0, True)
    assert changes._waiting == {}
