"""One rule for which workers a recorded change wakes (receiver/lifecycle/rules/records.py)."""

from __future__ import annotations

import asyncio

from receiver.lifecycle.handoff import PollHandoff, TaskChanges, Wakers
from receiver.lifecycle.rules.polling import PollLease
from receiver.lifecycle.rules.records import PollJob, Recorded, Task, Wakeups, Work
from receiver.lifecycle.rules.task import PENDING

PLAIN = Wakeups(mirroring=False)  # renders not copied; a cap on the tasks upstream
MIRRORING = Wakeups(mirroring=True)


def task(state: str) -> Task:
    return Task(
        "tsk_1", "image_to_video", state, "up", None, {}, [], None, None, 0, 0, None, None, 0
    )


def test_outbox_rows_wake_the_fan_out() -> None:
    recorded = Recorded("applied", task("running"), "evt_1", ["msg_1"])
    assert PLAIN.work_after(recorded) == Work.DELIVERIES


def test_deliveries_handed_to_the_fan_out_wake_no_claim_but_the_others_do() -> None:
    recorded = Recorded("applied", task("running"), "evt_1", ["msg_1", "msg_2"])
    assert PLAIN.work_after(recorded, frozenset({"msg_1", "msg_2"})) == Work.NONE
    assert PLAIN.work_after(recorded, frozenset({"msg_1"})) == Work.DELIVERIES


def test_a_pending_claim_or_one_past_the_history_bound_wakes_the_poller() -> None:
    assert PLAIN.work_after(Recorded("history", task("running"), "evt_1", verdict=PENDING)) == (
        Work.POLLS
    )
    assert PLAIN.work_after(Recorded("over_limit", task("running"))) == Work.POLLS


def test_a_claim_that_leased_its_poll_hands_it_over_and_wakes_no_claim() -> None:
    job = PollJob("tsk_1", "video2video", "up", 0.0, 0)
    recorded = Recorded("history", task("running"), "evt_1", verdict=PENDING, poll=job)
    assert PLAIN.work_after(recorded) == Work.NONE


def test_a_success_wakes_the_mirror_only_while_mirroring_is_on() -> None:
    recorded = Recorded("applied", task("succeeded"), "evt_1", ["msg_1"])
    assert MIRRORING.work_after(recorded) == Work.DELIVERIES | Work.MIRRORS | Work.SUBMITS
    assert PLAIN.work_after(recorded) == Work.DELIVERIES | Work.SUBMITS


def test_a_task_that_ends_wakes_the_submit_worker_for_it_left_room_under_the_cap() -> None:
    for state in ("succeeded", "failed", "cancelled"):
        assert Work.SUBMITS in PLAIN.work_after(Recorded("applied", task(state), "evt_1"))
    assert Work.SUBMITS not in PLAIN.work_after(Recorded("applied", task("running"), "evt_1"))
    ended_before = Recorded("history", task("failed"), "evt_1")
    assert Work.SUBMITS not in PLAIN.work_after(ended_before)


def test_without_a_cap_an_ending_task_leaves_the_submit_worker_asleep() -> None:
    ended = Recorded("applied", task("succeeded"), "evt_1", ["msg_1"])
    assert Wakeups(mirroring=False, capped=False).work_after(ended) == Work.DELIVERIES


def test_a_duplicate_or_a_judged_claim_wakes_nothing() -> None:
    assert MIRRORING.work_after(Recorded("duplicate", task("running"))) == Work.NONE
    judged = Recorded("history", task("succeeded"), "evt_1", verdict="confirmed")
    assert MIRRORING.work_after(judged) == Work.NONE


class _Poller:
    def __init__(self) -> None:
        self.started: list[PollJob] = []

    def start(self, job: PollJob) -> None:
        self.started.append(job)


def test_a_handoff_offers_leases_only_while_a_poller_runs_and_has_room() -> None:
    handoff, lease = PollHandoff(), PollLease("me", 30.0, 60.0, None)
    assert handoff.lease_for(lease) is None  # no poller in this process
    poller = _Poller()
    handoff.limit, handoff.taker = 2, poller
    job = PollJob("tsk_1", "video2video", "up", 0.0, 0)
    handoff.give(job)
    assert handoff.lease_for(lease) == lease
    handoff.give(job)
    assert poller.started == [job, job]  # each started as it is handed over
    assert handoff.lease_for(lease) is None  # full: the poller's claims take over
    handoff.done()
    assert handoff.lease_for(lease) == lease
    handoff.taker = None  # stopped meanwhile: the poll waits for its lease's end
    handoff.give(job)
    assert poller.started == [job, job] and handoff.lease_for(lease) == lease


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


def test_a_recorded_change_wakes_the_workers_its_rule_names_and_only_those() -> None:
    async def go() -> list[Work]:
        wakers = Wakers(PLAIN)
        every = (Work.DELIVERIES, Work.POLLS, Work.MIRRORS, Work.SUBMITS)
        waits = {work: asyncio.create_task(wakers.wait(work, 0.5)) for work in every}
        await asyncio.sleep(0)  # every wait has begun
        wakers.recorded(Recorded("applied", task("succeeded"), "evt_1", ["msg_1"]), frozenset())
        await asyncio.sleep(0.05)  # the woken ones are done; the others wait on
        woken = [work for work, wait in waits.items() if wait.done()]
        await asyncio.gather(*waits.values())
        return woken

    assert asyncio.run(go()) == [Work.DELIVERIES, Work.SUBMITS]


def test_a_wake_before_the_wait_is_kept_until_the_worker_waits_once() -> None:
    async def go() -> float:
        wakers = Wakers(PLAIN)
        wakers.wake(Work.SUBMITS)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await wakers.wait(Work.SUBMITS, 60)  # at once: woken meanwhile
        await wakers.wait(Work.SUBMITS, 0.01)  # cleared: the tick runs out
        return loop.time() - started

    assert asyncio.run(go()) < 1
