"""One script of store calls, run on SQLite and on PostgreSQL, gives the same rows on both.

The statements are written once for both backends (receiver/kernel/store/db.py); this follows a
task from its send to its prune through the store, as the workers and the API call it, and
compares what every call returned, ids and times aside (an id is named by the order it first
appears in, a time only said to be there).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from receiver.alerts import transactions as alert_transactions
from receiver.deliveries import reads as delivery_reads
from receiver.deliveries import transactions as delivery
from receiver.deliveries.transactions import AttemptHealth
from receiver.downstreams import rows as rows_of
from receiver.downstreams import transactions as downstream_rows
from receiver.downstreams.rows import Wanted
from receiver.downstreams.subscribers import subscribers as read_subscribers
from receiver.kernel.errors import LimitReached, RelayError
from receiver.kernel.secrets.sealing import Sealer
from receiver.kernel.store import Store, open_store
from receiver.kernel.store.db import new_id
from receiver.keys.rows.apps import AppSettings
from receiver.keys.rows.keys import NewKey
from receiver.keys.rules import NO_LIMITS, KeyLimits
from receiver.keys.transactions import apps as apps_story
from receiver.keys.transactions import keys as keys_story
from receiver.keys.transactions import sessions
from receiver.keys.transactions import webhook_keys as webhook_keys_story
from receiver.lifecycle.rows import mirrors
from receiver.lifecycle.rows.tasks import submits, tracking
from receiver.lifecycle.rules.polling import PollLease, PollRule, timing_key
from receiver.lifecycle.rules.records import NewTask, SubmitAttempt, Task, TaskFilter
from receiver.lifecycle.rules.retries import Refused
from receiver.lifecycle.rules.task import ClaimPolicy, Observation
from receiver.lifecycle.transactions import leases
from receiver.lifecycle.transactions import polls as poll_transactions
from receiver.lifecycle.transactions.observe import Report
from receiver.media import transactions as copies
from receiver.operator import queries
from receiver.operator import rows as reads
from receiver.outbox.rows.outbox import Handing
from receiver.outbox.rules.delivery import (
    NOT_VALIDATED,
    Attempt,
    DeliveryFilter,
    DeliveryJob,
    Subscription,
    asked_of,
    owned_name,
    shown_name,
)
from receiver.outbox.rules.event_types import DISABLED, FAILING, RECOVERED
from receiver.retention import transactions as pruning
from receiver.retention.rules import START, RetentionPolicy
from receiver.stream import reads as stream_reads
from receiver.tasks import reads as task_reads
from receiver.tasks import transactions as task_transactions
from tests.conftest import BACKENDS
from tests.harness import PgSchema
from tests.statements import every_statement, statements_run
from tests.testkit import listed

# Both backends, whatever RELAY_TEST_BACKENDS says: the comparison needs PostgreSQL too.
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif("postgres" not in BACKENDS, reason="RELAY_TEST_BACKENDS excludes postgres"),
]
SUBS = {
    "hook": Subscription(frozenset({"succeeded", "failed"})),
    "chat": Subscription(frozenset({"succeeded"})),
}
POLICY = ClaimPolicy(trust_body=False, window=60.0, min_poll_gap=0.0, max_count=8, max_bytes=4096)
# Under a budget, so that the script also draws from it and writes it back.
POLL_LEASE = PollLease("P", 60.0, 60.0, 1000.0)
CALLBACK_LEASE = PollLease("C", 60.0, 60.0, None)  # no budget: it leases its own
ID = re.compile(r"^[a-z]+_[0-9a-f]{20,}$")
# Epoch seconds: any number this large is a time, which differs from run to run.
A_TIME = 1e9


class Script:
    """The store's answers, in call order, as plain values."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.answers: list[tuple[str, Any]] = []
        self._ids: dict[str, str] = {}

    async def __call__(self, label: str, call: Awaitable[Any]) -> Any:
        answer = await call
        self.answers.append((label, self._plain(answer)))
        return answer

    def _plain(self, value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        if isinstance(value, dict):
            return {self._plain(k): self._plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._plain(v) for v in value]
        if isinstance(value, set | frozenset):
            return sorted(self._plain(v) for v in value)
        if isinstance(value, str) and ID.match(value):
            return self._ids.setdefault(value, f"{value.split('_')[0]}#{len(self._ids)}")
        if isinstance(value, int | float) and not isinstance(value, bool) and value > A_TIME:
            return "<time>"
        return value


def attempt(job: Any, number: int, status: int | None, outcome: str) -> Attempt:
    now = time.time()
    d = job.delivery
    error = None if outcome == "succeeded" else f"HTTP {status}"
    return Attempt(
        new_id("att"),
        d.id,
        d.task_id,
        d.downstream,
        number,
        now,
        now + 0.01,
        10.0,
        status,
        error,
        outcome,
    )


def sent(job: Any, status: int | None, outcome: str, retry_at: float | None) -> SubmitAttempt:
    now = time.time()
    error = None if outcome == "accepted" else "busy"
    return SubmitAttempt(
        new_id("sub"), job.task_id, job.attempt, now, now, status, error, outcome, retry_at
    )


def create(store: Store, new: NewTask) -> Awaitable[tuple[Task, bool]]:
    """A task made as the API makes one: the intake story, here under no key's limits."""
    return task_transactions.queue(store, new, NO_LIMITS)


async def submit_and_poll(run: Script) -> tuple[dict[str, str], list[DeliveryJob]]:
    """Three tasks sent (one refused for good, one retried), polled and called back."""
    store = run.store
    cat, _ = await run(
        "create",
        create(
            store,
            NewTask(
                "video2video",
                {"prompt": "A Cat 100%_sure"},
                "key-1",
                "hash-1",
                {"metadata": {"m": 1}, "channels": ["chat"]},
            ),
        ),
    )
    await run("create again", create(store, NewTask("video2video", {}, "key-1", "hash-1")))
    dog, _ = await run("create", create(store, NewTask("image_to_video", {"promptText": "dog"})))
    fox, _ = await run("create", create(store, NewTask("video2video", {"prompt": "a fox"})))
    await run("position", task_reads.task(store, fox.id))
    await run("orphans none", poll_transactions.orphaned(store, time.time() + 60))
    jobs = await run("claim submits", task_transactions.claim(store, "S", None, 10))
    by_task = {j.task_id: j for j in jobs}
    await run("orphans", poll_transactions.orphaned(store, time.time() + 60))
    await run(
        "accepted",
        task_transactions.accepted(
            store,
            by_task[cat.id],
            "S",
            task_transactions.Accepted("up-cat", "{}", time.time() - 1),
            sent(by_task[cat.id], 200, "accepted", None),
            listed(SUBS),
        ),
    )
    retry_at = time.time() - 1
    await run(
        "refused retry",
        task_transactions.refused(
            store,
            by_task[dog.id],
            "S",
            Refused("retry", retry_at, retry_at, "busy"),
            sent(by_task[dog.id], 503, "retry", retry_at),
            listed(SUBS),
        ),
    )
    await run(
        "refused failed",
        task_transactions.refused(
            store,
            by_task[fox.id],
            "S",
            Refused("failed", None, None, "prompt rejected"),
            sent(by_task[fox.id], 400, "failed", None),
            listed(SUBS),
        ),
    )
    [again] = await run("claim retry", task_transactions.claim(store, "S", 5, 10))
    await run(
        "accepted retry",
        task_transactions.accepted(
            store,
            again,
            "S",
            task_transactions.Accepted("up-dog", "{}", time.time() - 1),
            sent(again, 200, "accepted", None),
            listed(SUBS),
        ),
    )
    await run("sends", store.read(lambda db: submits.attempts(db, dog.id, 500)))
    waiting, _ = await run("create", create(store, NewTask("video2video", {"prompt": "w"})))
    await run("cancel waiting", task_transactions.while_waiting(store, waiting.id, listed(SUBS)))

    # A callback's claim, then the polls that confirm it.
    await run(
        "callback",
        poll_transactions.arrive(
            store,
            Report(
                "callback",
                "cb-1",
                Observation(
                    state="succeeded",
                    upstream_task_id="up-cat",
                    outputs=("https://cdn.test/cat.mp4",),
                ),
                '{"status":"SUCCESS"}',
            ),
            cat.id,
            listed(SUBS),
            POLICY,
        ),
    )
    claimed = await run("claim polls", poll_transactions.claim(store, POLL_LEASE, 10))
    assert sorted(p.task_id for p in claimed) == sorted([cat.id, dog.id])
    running = Observation(state="running", upstream_task_id="up-dog", progress="50%")
    await run(
        "poll running",
        poll_transactions.answered(
            store,
            poll_transactions.Answer(dog.id, "P", running, "{}", time.time() - 1),
            poll_transactions.PollPolicy(listed(SUBS), 120.0),
        ),
    )
    done = Observation(
        state="succeeded",
        upstream_task_id="up-cat",
        outputs=("https://cdn.test/cat.mp4",),
        point=5,
        refund=0,
    )
    chat_now = Handing("P", time.time() + 60, frozenset({"chat"}))
    handed = await run(
        "poll done",
        poll_transactions.answered(
            store,
            poll_transactions.Answer(cat.id, "P", done, "{}", None),
            poll_transactions.PollPolicy(listed(SUBS), 120.0),
            chat_now,
        ),
    )
    assert len(handed.handed) == 1
    # Asked again after it ended, CometAPI now refunds: the cost changes, nothing else.
    await run(
        "poll refund",
        poll_transactions.answered(
            store,
            poll_transactions.Answer(cat.id, "P", dataclasses.replace(done, refund=5), "{}", None),
            poll_transactions.PollPolicy(listed(SUBS), 120.0),
        ),
    )
    # A late callback on the ended task: judged at once, and counted toward its bound.
    late = Observation(state="succeeded", upstream_task_id="up-cat", outputs=done.outputs)
    await run(
        "late callback",
        poll_transactions.arrive(
            store, Report("callback", "cb-late", late, "{}"), cat.id, listed(SUBS), POLICY
        ),
    )
    # A callback with CometAPI asked at once: claim and answer in one transaction, no lease.
    asked = Observation(state="running", upstream_task_id="up-dog", progress="60%")
    await run(
        "callback answered",
        poll_transactions.arrive_answered(
            store,
            Report("callback", "cb-asked", asked, "{}"),
            poll_transactions.Answer(dog.id, None, asked, "{}", time.time() - 1),
            POLICY,
            poll_transactions.PollPolicy(listed(SUBS), 120.0),
            Handing("P", time.time() + 60),
        ),
    )
    # Rows leased as they were made that the fan-out could not start: given back.
    await run("give back", delivery.give_back_leases(store, ["msg_none"], "P"))
    # One end in sixteen trims its kind's history: here, whichever the cat's id is.
    key = timing_key(cat.kind, cat.request)
    await run("trim history", store.run(lambda db: tracking.trim_durations(db, key, 1)))
    [due] = await run("claim poll again", poll_transactions.claim(store, POLL_LEASE, 10))
    done_dog = Observation(
        state="succeeded", upstream_task_id="up-dog", outputs=("https://cdn.test/dog.mp4",)
    )
    await run(
        "poll copy",
        poll_transactions.answered(
            store,
            poll_transactions.Answer(due.task_id, "P", done_dog, "{}", None),
            poll_transactions.PollPolicy(listed(SUBS), 120.0, True),
        ),
    )
    return {"cat": cat.id, "dog": dog.id, "fox": fox.id}, handed.handed


async def resubmit_and_orphan(run: Script) -> None:
    """A callback that takes its task's poll at once; a failure upstream sent again; a send
    cut off given up."""
    store = run.store
    eel, _ = await run("create", create(store, NewTask("video2video", {"prompt": "eel"})))
    [job] = await run("claim submits", task_transactions.claim(store, "S", None, 10))
    await run(
        "accepted",
        task_transactions.accepted(
            store,
            job,
            "S",
            task_transactions.Accepted("up-eel", "{}", time.time() - 1),
            sent(job, 200, "accepted", None),
            listed(SUBS),
        ),
    )
    claim = Observation(state="failed", upstream_task_id="up-eel", error="bad output")
    taken = await run(
        "callback takes poll",
        poll_transactions.arrive(
            store,
            Report("callback", "cb-eel", claim, "{}"),
            eel.id,
            listed(SUBS),
            POLICY,
            CALLBACK_LEASE,
        ),
    )
    assert taken.poll is not None
    failed = Observation(
        state="failed",
        upstream_task_id="up-eel",
        error="bad output",
        failure_code="INTERNAL.BAD_OUTPUT.CODE01",
    )
    await run(
        "poll failed",
        poll_transactions.answered(
            store,
            poll_transactions.Answer(eel.id, "C", failed, "{}", time.time() + 60),
            poll_transactions.PollPolicy(listed(SUBS), 120.0, False, 1),
        ),
    )
    await run("requeued", task_reads.task(store, eel.id))
    [job] = await run("claim resubmit", task_transactions.claim(store, "S", None, 10))
    await run("orphans", poll_transactions.orphaned(store, time.time() + 60))
    await run("orphan failed", poll_transactions.fail_orphan(store, eel.id, listed(SUBS)))


async def deliver(run: Script, ids: dict[str, str], handed: list[DeliveryJob]) -> None:
    """Deliveries claimed and attempted; a failing downstream disabled and enabled again."""
    store = run.store
    await run("register", downstream_rows.register(store, ["hook", "chat"]))
    hooks = await run("claim hook", delivery.claim(store, "D", 60, 10, "hook"))
    chats = await run("claim chat", delivery.claim(store, "D", 60, 10, "chat"))
    # Within a budget of one a second: its first token drawn from nothing due.
    await run("nothing twice", delivery.claim(store, "E", 60, 10, "hook", 1.0))
    assert chats == []  # handed to the poll that found the cat done
    for job in handed:
        await run(
            "chat sent",
            delivery.ended(
                store,
                attempt(job, 1, 200, "succeeded"),
                "P",
                time.time(),
                AttemptHealth("chat", True, 3600.0, listed(SUBS)),
                ("m-1", True),
            ),
        )
    # The chat's settled deliveries, read as a pull downstream's events are.
    await run("pulled", delivery_reads.pulled(store, "chat", (0.0, ""), time.time() + 60, 10))
    await run("pullable", delivery_reads.pullable(store, ["chat", "hook"]))
    failing = AttemptHealth("hook", False, 0.0, listed(SUBS))
    for job in hooks:
        await run(
            "hook fails",
            delivery.ended(store, attempt(job, 1, 503, "retry"), "D", time.time() - 1, failing),
        )
    await run("health", downstream_rows.health(store, ["hook", "chat"]))
    await run("newest event", delivery_reads.newest_event_of(store, "hook"))
    await run("disabled", downstream_rows.disabled_and_held(store))
    await run("enable", downstream_rows.enable(store, "hook", time.time() - 60))
    # Its CloudEvents handshake: refused (paused), its turn to be asked again taken once, no
    # answer then (asked again later), then allowed (released).
    of = asked_of("http://127.0.0.1:9/hook", "relay.example")
    refusal = f"{NOT_VALIDATED}: its answer has no WebHook-Allowed-Origin"
    await run(
        "refused", delivery.handshake_refused(store, "hook", of, refusal, [0.0], listed(SUBS))
    )
    await run("handshakes due", downstream_rows.handshakes_due(store))
    await run("turn", downstream_rows.take_handshake_turn(store, "hook", 60.0))
    await run("turn taken", downstream_rows.take_handshake_turn(store, "hook", 60.0))
    await run("unanswered", downstream_rows.handshake_unanswered(store, "hook", [30.0]))
    await run("verdict", downstream_rows.handshake(store, "hook"))
    await run("allowed", downstream_rows.handshake_allowed(store, "hook", of, 60.0))
    for job in await run("claim again", delivery.claim(store, "D", 60, 10, "hook")):
        await run(
            "hook dead", delivery.ended(store, attempt(job, 2, 410, "dead"), "D", time.time())
        )
    await run("breaker", downstream_rows.note_breaker(store, "hook", "open"))
    await run(
        "dead letters",
        delivery_reads.deliveries(store, DeliveryFilter(state="dead", downstream="hook")),
    )
    await run("replay dead", delivery.replay_dead_letters(store, "hook"))
    await run(
        "of task",
        delivery_reads.deliveries(store, DeliveryFilter(task_id=ids["cat"], state="pending")),
    )
    every = await run(
        "every",
        delivery_reads.deliveries(store, DeliveryFilter()),
    )
    # A page past a cursor, each one's event type, each downstream's last delivery.
    await run("older", delivery_reads.deliveries(store, DeliveryFilter(before=every[0].id)))
    await run("event types", delivery_reads.types_of(store, every))
    await run("last delivered", delivery_reads.last_delivered_to(store, ["hook", "chat"]))
    await run("pending", delivery_reads.deliveries(store, DeliveryFilter(state="pending")))
    await run("to hook", delivery_reads.deliveries(store, DeliveryFilter(downstream="hook")))
    # One a second: the first replayed goes, the next waits for its token.
    replayed = await run("claim replayed", delivery.claim(store, "D", 60, 10, "hook", 1.0))
    task_id = replayed[0].delivery.task_id
    # Postponed by a worker that holds no lease on it (the relay too busy to evaluate):
    # refused alike, nothing changed; the fault tests postpone held ones.
    await run("postpone not held", delivery.postpone(store, replayed[0].delivery.id, "E", 0.0))
    filtered = attempt(replayed[0], 3, None, "filtered")  # "HTTP None": no refusal's reason
    await run("filter failed", delivery.ended(store, filtered, "D", time.time()))
    await run("filter failures", downstream_rows.health(store, ["hook"]))
    await run("webhook gone", delivery.webhook_gone(store, task_id, "gone", "none"))
    await run("release", leases.release(store, "D"))
    await run("release all", leases.release_all(store, True, True, True))


async def copy(run: Script, ids: dict[str, str]) -> None:
    """The dog's copy retried, renewed and finished; the deliveries it held go."""
    store = run.store
    await run("copying", store.read(lambda db: mirrors.copying(db, ids["dog"])))
    [job] = await run("claim copy", copies.claim(store, "M", 60, 4))
    await run("retry copy", copies.retry(store, job.event_id, "M", time.time() - 1, "slow", []))
    [job] = await run("claim copy again", copies.claim(store, "M", 60, 4))
    await run("renew", copies.renew(store, "M", [job.event_id], 60))
    await run("overdue", copies.give_up_overdue(store, 3600, lambda e: f"late: {e}", 4))
    media = {"status": "mirrored", "files": [{"role": "video", "url": "https://c.test/d.mp4"}]}
    await run("copied", copies.finish(store, job.event_id, "M", media))
    await run("give up none", copies.give_up_all(store, "stopping", 4))


async def read_and_prune(run: Script, ids: dict[str, str]) -> None:
    """What the console and the CLI read, then the ended tasks pruned."""
    store = run.store
    since = time.time() - 3600
    for i, wanted in enumerate(
        (
            TaskFilter(),
            TaskFilter(kind="video2video"),
            TaskFilter(text="100%_s"),
            TaskFilter(text="100%_x"),
            TaskFilter(state="succeeded"),
            TaskFilter(limit=1),
            TaskFilter(before=ids["fox"]),
            TaskFilter(state="failed", before=ids["fox"]),
            TaskFilter(floor=ids["dog"]),
        )
    ):
        await run(f"list {i}", task_reads.task_list(store, wanted))
    await run("window", task_reads.search_window_end(store, None, 2))
    await run("window before", task_reads.search_window_end(store, ids["fox"], 1))
    for name, task_id in ids.items():
        await run(f"task {name}", task_reads.task(store, task_id))
        await run(f"detail {name}", task_reads.task_detail(store, task_id, task_reads.HISTORY))
        await run(f"changes {name}", stream_reads.changes(store, since, task_id))
    await run("changes", stream_reads.changes(store, since))
    await run("activity", store.read(lambda db: reads.activity(db, since)))
    counts = await queries.counts(store)
    run.answers.append(("counts", {k: v for k, v in counts.items() if not k.startswith("store")}))
    await run("revoke", sessions.end(store, "sess-1", time.time() + 60))
    await run("revoke again", sessions.end(store, "sess-1", time.time() + 60))
    await run("revoked", sessions.ended(store, "sess-1"))
    await run("not revoked", sessions.ended(store, "sess-2"))
    made = {"url": "https://x.test"}
    await run("managed", downstream_rows.create(store, "hook", made, ("sealed", "k1")))
    await run("changed", downstream_rows.change(store, "hook", {"url": "https://y.test"}))
    await run("rotate", downstream_rows.rotate(store, "hook", "sealed-2", "sealed", 60))
    await run("sealed otherwise", downstream_rows.sealed_otherwise(store, "k1"))
    await run("reseal", downstream_rows.reseal(store, "hook", "sealed-3", None, "k2"))
    await run("sealed with k2", downstream_rows.sealed_otherwise(store, "k2"))
    await run("marked", downstream_rows.mark_sealed(store, "hook", "k1"))
    await run("last change", downstream_rows.last_change(store))
    await run("changes", downstream_rows.changes_since(store, -1))
    await run("changes after the first", downstream_rows.changes_since(store, 1))
    await run("nothing new", downstream_rows.changes_since(store, 3))
    await run("held", downstream_rows.follow_unopened(store, ["hook"], []))
    await run("held for", downstream_rows.held_unopened(store))
    await run("released", downstream_rows.follow_unopened(store, [], ["hook"]))
    await run("named", downstream_rows.made_named(store, ["hook", "none"]))
    for name in ("hook", "none"):
        await run(f"{name} exists", store.read(lambda db, n=name: rows_of.made_exists(db, n)))
    await run("names", downstream_rows.made_names(store))
    # Pages: every one (the config file's merged in), one app's through its index, by name.
    mine = owned_name("app_" + "0" * 24, "crm")
    app_made = {"url": "https://z.test"}
    await run("app's", downstream_rows.create(store, mine, app_made, ("sealed", "k1")))
    await run("of the app", downstream_rows.made_of(store, mine[:28]))
    await run("global ones", downstream_rows.made_of(store, ""))
    await run("any app's", downstream_rows.any_owned(store))
    await run("called crm", downstream_rows.owned_called(store, "crm"))
    await run("a page", downstream_rows.page(store, Wanted(None, "", 2), ["cfg", "zz"]))
    await run("a search", downstream_rows.page(store, Wanted(None, "app", 5, "O"), ["zz"]))
    await run("app's page", downstream_rows.page(store, Wanted(mine[:29], "", 5, "R"), []))
    await run("app's names", downstream_rows.owned_names(store, mine[:29]))
    await run("one's health", downstream_rows.with_health(store, mine))
    await run("file's health", downstream_rows.with_health(store, "chat"))
    await run("many's health", downstream_rows.health(store, [f"d{n}" for n in range(201)]))
    await run("end", downstream_rows.end_deliveries(store, "hook", "removed"))
    await run("remove", downstream_rows.remove(store, "hook", "removed"))
    await run("removed since", downstream_rows.changes_since(store, 3))
    await subscribers_read(run)
    policy = RetentionPolicy(task_days=0, dead_letter_days=0, batch_size=10)
    await run("preview", pruning.preview(store, policy, START))
    await run("prune", pruning.step(store, policy, START, "R", 60))
    await run("prune again", pruning.step(store, policy, START, "R", 60))
    await run("release prune", pruning.release(store, "R"))
    await run("left", task_reads.task_list(store, TaskFilter()))


async def subscribers_read(run: Script) -> None:
    """Who an event may go to: the global downstreams and one app's, found by its index, and
    downstreams by name; a seal that does not open holds its rows."""
    store, sealer = run.store, Sealer(["parity-key-" + "k" * 32])
    app = "app_" + "e" * 24  # an app of its own: the lists above made others
    crm, sealed = owned_name(app, "crm"), sealer.seal("whsec_" + "c" * 32, owned_name(app, "crm"))
    spec = {"url": "https://crm.test", "events": ["succeeded"]}
    key = sealer.current_key
    await downstream_rows.create(store, crm, spec, (sealed, key))  # sealed anew: it differs
    made = downstream_rows.create(store, "all", {"url": "https://a.test"}, ("x", key))
    await run("global", made)
    subscribers = read_subscribers([], sealer)
    for label, owner in (("app's audience", app), ("admin's audience", None)):
        await run(label, store.read(lambda db, owner=owner: subscribers.of(db, owner)))
    await run("by name", store.read(lambda db: subscribers.named(db, [crm, "all", "none"])))
    for name in (crm, "all"):
        await run(f"remove {name}", downstream_rows.remove(store, name, "removed"))


async def refused(call: Awaitable[Any]) -> str:
    try:
        await call
    except LimitReached as e:
        return f"{e.limit}: {e.retry_after > 0}"
    return "taken"


async def apps_and_limits(run: Script) -> None:
    """An app and its key, made, found, used and revoked; tasks made under its limits."""
    store = run.store
    app = await run("app", apps_story.create(store, "studio", AppSettings(2, 1, 2)))
    await run("app named", apps_story.named(store, "studio"))
    await run("apps", apps_story.live(store))
    await run("app names", apps_story.names(store, [app.id, "app_none"]))
    await run("app changed", apps_story.change(store, "studio", AppSettings(3, 1, 2)))
    key = await run(
        "key", apps_story.add_key(store, "studio", NewKey("k1", "digest-1", ["tasks:read"], 1))
    )
    await run("key by digest", keys_story.by_digest(store, ["digest-0", "digest-1"]))
    await run("rehash", keys_story.rehash(store, key.id, "digest-2"))
    await run("used", keys_story.used(store, key.id))
    await run("keys", keys_story.live(store))
    await run("keys of the app", keys_story.live(store, app.id))
    await run("key live", keys_story.is_live(store, key.id))
    origins = ("https://studio.example",)
    await run("portal framing", apps_story.set_framing(store, "studio", origins))
    await run("portal app", apps_story.app_of(store, app.id, time.time() + 60))
    await run("portal link used", apps_story.use_once(store, "lnk_parity", time.time() + 60))
    # Its task-webhook keys: none, made once (the first kept), rotated.
    await run("no webhook keys", webhook_keys_story.of(store, app.id))
    await run("webhook keys made", webhook_keys_story.made(store, app.id, "sealed-1"))
    await run("webhook keys kept", webhook_keys_story.made(store, app.id, "sealed-2"))
    await run("webhook keys rotated", webhook_keys_story.rotate(store, app.id, "sealed-3", 60.0))
    limits = KeyLimits(1, 2)
    first, _ = await run(
        "limited",
        task_transactions.queue(store, NewTask("video2video", {"p": 1}, owner_key=app.id), limits),
    )
    await run(
        "queued limit",
        refused(
            task_transactions.queue(store, NewTask("video2video", {}, owner_key=app.id), limits)
        ),
    )
    await run("cancel limited", task_transactions.while_waiting(store, first.id, listed(SUBS)))
    await run(
        "limited again",
        task_transactions.queue(store, NewTask("video2video", {"p": 2}, owner_key=app.id), limits),
    )
    await run(
        "day limit",
        refused(
            task_transactions.queue(store, NewTask("video2video", {}, owner_key=app.id), limits)
        ),
    )
    await run("revoke key", apps_story.revoke_key(store, "k1", "studio"))
    await run("key gone", keys_story.is_live(store, key.id))
    await run("delete app", apps_story.delete(store, "studio"))


async def inputs_progress_and_copies(run: Script) -> None:
    """A task's data URI read back; a running task's progress told, twice; a task bound to
    its upstream id by a poll; an own webhook's delivery leased; a copy given up."""
    store = run.store
    uri = "data:image/png;base64," + "A" * 64
    task, _ = await run(
        "with input",
        create(
            store,
            NewTask(
                "image_to_video",
                {"promptImage": "sha-1"},
                routing={"webhook": "https://own.test/hook", "webhook_events": ["running"]},
                inputs={"sha-1": uri},
            ),
        ),
    )
    await run("input parts", task_reads.input_parts(store, task.id))
    await run("input wholes", task_reads.input_wholes(store, task.id, ["sha-1", "sha-2"]))
    await run("input part", task_reads.input_part(store, task.id, "sha-1", 0))
    jobs = await run("claim submit", task_transactions.claim(store, "S", None, 10))
    listening = {**SUBS, "progress": Subscription(frozenset({"progress", "running"}))}
    rule = PollRule()
    for progress in ("10%", "20%"):
        running = Observation(state="running", upstream_task_id="up-in", progress=progress)
        await run(
            f"running {progress}",
            poll_transactions.answered(
                store,
                poll_transactions.Answer(task.id, "P", running, "{}", rule),
                poll_transactions.PollPolicy(listed(listening), 120.0, progress_every=0.0),
                # its rows leased to the poller, new or carrying it
                Handing("P", time.time() + 60, frozenset({"progress"})),
            ),
        )
    await run("due downstreams", downstream_rows.due(store))
    await run("own webhook", delivery.claim(store, "D", 60, 10, "task-webhook"))
    done = Observation(state="succeeded", upstream_task_id="up-in", outputs=("https://c/x.mp4",))
    await run(
        "copy wanted",
        poll_transactions.answered(
            store,
            poll_transactions.Answer(task.id, "P", done, "{}", rule),
            poll_transactions.PollPolicy(listed(listening), 120.0, mirror=True),
        ),
    )
    await run("give up copies", copies.give_up_all(store, "stopping", 4))
    await run("aside", leases.set_aside(store, jobs[0].task_id, "broken"))
    await run(
        "app deliveries",
        delivery_reads.app_deliveries(store, "app_none", DeliveryFilter(limit=10)),
    )


async def upload_refused(call: Awaitable[Any]) -> str:
    """What an upload story says, as plain words: taken, or the refusal's kind."""
    try:
        answer = await call
    except RelayError as e:
        return type(e).__name__
    return type(answer).__name__ if isinstance(answer, RelayError) else "taken"


async def runway_uploads(run: Script) -> None:
    """Runway's upload URLs taken once each, under a key's bytes in the hour; one given back."""
    store = run.store
    first = copies.Upload("runway-uploads/a.png", "key_a", 100)
    second = copies.Upload("runway-uploads/b.png", "key_a", 200)
    await run("upload fits", upload_refused(copies.upload_refusal(store, first, 250)))
    await run("upload taken", upload_refused(copies.take_upload(store, first, 250)))
    await run("upload spent", upload_refused(copies.upload_refusal(store, first, 250)))
    await run("upload twice", upload_refused(copies.take_upload(store, first, 250)))
    await run("upload over quota", upload_refused(copies.take_upload(store, second, 250)))
    await run("upload given back", copies.forget_upload(store, first.media_key))
    await run("upload now fits", upload_refused(copies.take_upload(store, second, 250)))


async def script(store: Store) -> list[tuple[str, Any]]:
    run = Script(store)
    await run("migrate", store.migrate())
    await run("ping", store.ready())
    ids, handed = await submit_and_poll(run)
    await resubmit_and_orphan(run)
    await deliver(run, ids, handed)
    await copy(run, ids)
    await read_and_prune(run, ids)
    await apps_and_limits(run)
    await inputs_progress_and_copies(run)
    await runway_uploads(run)
    await operator_alerts(run)
    return run.answers


async def operator_alerts(run: Script) -> None:
    """An alert decided under its downstream's mark: sent, held back, recovered once its
    window ended; an app's own alert downstream named and taking its endpoints' alerts; each
    app's digest sent once, naming every downstream told."""
    store = run.store
    plan = alert_transactions.Plan("chat", 900.0, 0.0, lambda db, name: True, listed({}))
    for label, kind in (
        ("alert failing", FAILING),
        ("alert held back", FAILING),
        ("alert disabled", DISABLED),
    ):
        await run(label, alert_transactions.alert(store, "hook", kind, "HTTP 503", plan))
    await run("alerts open", alert_transactions.live_marks(store))
    await run("alert recovered", alert_transactions.alert(store, "hook", RECOVERED, "ok", plan))
    await run("alert window", alert_transactions.window_ended(store, "hook", plan))
    ended = dataclasses.replace(plan, quiet=0.0)  # the held recovery, past its window
    await run("alert window ended", alert_transactions.window_ended(store, "hook", ended))
    app = await run("alerting app", apps_story.create(store, "alerting", AppSettings()))
    chosen = alert_transactions.choose(store, lambda db, name: True, app.id, "ops")
    await run("app alerts", chosen)
    await run("app alerts chosen", alert_transactions.chosen(store, app.id))
    crm = owned_name(app.id, "crm")
    await run("app alert", alert_transactions.alert(store, crm, FAILING, "HTTP 500", plan))
    erp = owned_name(app.id, "erp")
    await run("app alert 2", alert_transactions.alert(store, erp, FAILING, "timed out", plan))
    await run("digests waiting", alert_transactions.waiting_digests(store))
    for label, app_id, kind in (
        ("app digest", app.id, FAILING),
        ("app digest again", app.id, FAILING),
        ("relay digest", "", FAILING),
        ("relay digest disabled", "", DISABLED),
    ):
        await run(label, _digest(alert_transactions.send_digest(store, app_id, kind, plan)))


async def _digest(sending: Awaitable[Any]) -> Any:
    """A digest sent, its downstreams by the names their apps gave (app ids differ)."""
    sent = await sending
    return sent and (sent.kind, sent.app, [shown_name(name) for name in sent.about])


def run_on(url: str, fn: Callable[[Store], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        store = open_store(url)
        try:
            return await fn(store)
        finally:
            await store.close()

    return asyncio.run(go())


def test_the_same_calls_give_the_same_rows_on_both_backends(tmp_path: Path) -> None:
    with statements_run() as ran_on_sqlite:
        on_sqlite = run_on(f"sqlite:///{tmp_path / 'relay.db'}", script)
    schema = PgSchema()
    try:
        with statements_run() as ran_on_postgres:
            on_postgres = run_on(schema.url, script)
    finally:
        schema.drop()
    # Every statement written in the relay's modules ran on both (found where it is written,
    # not from a list): one the script misses is one whose answers nobody compared.
    every = every_statement()
    for ran in (ran_on_sqlite, ran_on_postgres):
        missed = sorted(name for name, sql in every.items() if id(sql) not in ran)
        assert missed == [], "\n".join(missed)
    assert [label for label, _ in on_sqlite] == [label for label, _ in on_postgres]
    for (label, sqlite_answer), (_, postgres_answer) in zip(on_sqlite, on_postgres, strict=True):
        assert (label, sqlite_answer) == (label, postgres_answer)
    # The script went where it means to: four ended tasks pruned, the dog's copy kept.
    assert dict(on_sqlite)["prune"]["removed"]["tasks"] == 4
