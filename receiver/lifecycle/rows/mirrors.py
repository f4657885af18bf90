"""The mirrors table, written here only: which finished renders are being copied, and how
each copy went. A job is leased to one worker while it copies; the lease is short and
renewed as the copy goes on, so a killed worker's copies are taken up again soon."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from receiver.kernel.store.db import Db, Sql, record


@dataclass(frozen=True)
class MirrorJob:
    event_id: str
    task_id: str
    kind: str
    upstream_task_id: str | None
    sources: list[dict[str, str]]  # {"role": "video" | "image" | "audio" | "poster", "url": ...}
    attempts: int
    started_at: float
    last_error: str | None  # why the last attempt failed
    trace_context: str | None = None  # the task's trace
    app: str = ""  # the app whose task it is ('': the admin token's)


@dataclass(frozen=True)
class Unfinished:
    """A job still to be copied, as one given up sees it."""

    event_id: str
    task_id: str
    last_error: str | None


INSERT_MIRROR = Sql(
    "INSERT INTO mirrors (event_id, task_id, state, sources, started_at, next_attempt_at)"
    " VALUES (?, ?, 'pending', ?, ?, ?)"
)


def start_copy(
    db: Db, event_id: str, task_id: str, sources: list[dict[str, str]], now: float
) -> bool:
    """A job for this event's files; False when it has none to copy."""
    if not sources:
        return False
    db.execute(INSERT_MIRROR, (event_id, task_id, orjson.dumps(sources).decode(), now, now))
    return True


MIRROR_PENDING = Sql(
    "SELECT 1 AS busy FROM mirrors WHERE task_id = ? AND state = 'pending' LIMIT 1"
)


def copying(db: Db, task_id: str) -> bool:
    """Whether a copy of the task's files is still being made."""
    return db.one(MIRROR_PENDING, (task_id,)) is not None


# Each app's oldest due jobs (the admin token's under ''), every app's first before any
# app's second: a claim takes the apps in turn. Not locked: the lease is taken only where
# no other worker took it since (`LEASE_MIRROR`), so two replicas never copy one job.
DUE_MIRRORS = Sql(
    "SELECT due.* FROM ("
    "SELECT m.event_id, m.task_id, m.sources, m.attempts, m.started_at, m.reason,"
    " m.next_attempt_at, t.kind, t.upstream_task_id, t.trace_context,"
    " COALESCE(t.owner_key, '') AS app,"
    " ROW_NUMBER() OVER (PARTITION BY t.owner_key ORDER BY m.next_attempt_at, m.event_id)"
    " AS place"
    " FROM mirrors m JOIN tasks t ON t.id = m.task_id"
    " WHERE m.state = 'pending' AND m.next_attempt_at <= ?"
    " AND (m.lease_until IS NULL OR m.lease_until < ?)) AS due"
    " WHERE due.place <= ? ORDER BY due.place, due.next_attempt_at, due.event_id LIMIT ?"
)

LEASE_MIRROR = Sql(
    "UPDATE mirrors SET lease_owner = ?, lease_until = ? WHERE event_id = ?"
    " AND state = 'pending' AND (lease_until IS NULL OR lease_until < ?)"
)


def claim(
    db: Db,
    owner: str,
    now: float,
    lease: float,
    limit: int,
    per_app: int | None = None,
    held: Mapping[str, int] | None = None,
) -> list[MirrorJob]:
    """Up to `limit` due jobs leased to `owner`, the apps in turn, each app's oldest first;
    none of an app that would then hold more than `per_app` (counting `held`, the jobs
    `owner` copies already, by app)."""
    held = held or {}
    share = per_app if per_app is not None else limit
    # An app's rows past its share are read and passed over: at most what it holds already.
    rows = db.all(DUE_MIRRORS, (now, now, share, limit + sum(held.values())))
    taken: Counter[str] = Counter()
    jobs: list[MirrorJob] = []
    for r in rows:
        app = r["app"]
        if len(jobs) >= limit or held.get(app, 0) + taken[app] >= share:
            continue
        if not db.execute(LEASE_MIRROR, (owner, now + lease, r["event_id"], now)):
            continue  # another worker leased it since it was read
        taken[app] += 1
        jobs.append(
            record(MirrorJob, r, sources=orjson.loads(r["sources"]), last_error=r["reason"])
        )
    return jobs


RETRY_MIRROR = Sql(
    "UPDATE mirrors SET attempts = attempts + 1, next_attempt_at = ?, reason = ?, sources = ?,"
    " lease_owner = NULL, lease_until = NULL WHERE event_id = ? AND lease_owner = ?"
)


def retry(
    db: Db, event_id: str, owner: str, at: float, reason: str, sources: list[dict[str, str]]
) -> None:
    """A failed attempt: the job is tried again at `at`, from `sources`."""
    db.execute(RETRY_MIRROR, (at, reason, orjson.dumps(sources).decode(), event_id, owner))


FINISH_MIRROR = Sql(
    "UPDATE mirrors SET state = ?, attempts = attempts + 1, reason = ?, lease_owner = NULL,"
    " lease_until = NULL WHERE event_id = ? AND lease_owner = ?"
)


def finish(db: Db, event_id: str, owner: str, state: str, reason: str | None) -> bool:
    """The job is over (`done` or `failed`); False when `owner` lost its lease."""
    return bool(db.execute(FINISH_MIRROR, (state, reason, event_id, owner)))


RENEW_MIRROR_LEASE = Sql(
    "UPDATE mirrors SET lease_until = ?"
    " WHERE event_id = ? AND lease_owner = ? AND state = 'pending'"
)


def renew(db: Db, owner: str, event_ids: list[str], until: float) -> int:
    """Extend `owner`'s leases on these jobs (those it still holds); returns how many."""
    return sum(db.execute(RENEW_MIRROR_LEASE, (until, e, owner)) for e in event_ids)


_OVERDUE_MIRRORS = (
    "SELECT event_id, task_id, reason FROM mirrors WHERE state = 'pending'"
    " AND started_at <= ? AND (lease_until IS NULL OR lease_until < ?)"
    " ORDER BY next_attempt_at LIMIT ?"
)
OVERDUE_MIRRORS = Sql(
    sqlite=_OVERDUE_MIRRORS, postgres=f"{_OVERDUE_MIRRORS} FOR UPDATE SKIP LOCKED"
)


def overdue(db: Db, started_before: float, now: float, limit: int) -> list[Unfinished]:
    """The jobs started before `started_before` that no live worker holds."""
    rows = db.all(OVERDUE_MIRRORS, (started_before, now, limit))
    return [Unfinished(r["event_id"], r["task_id"], r["reason"]) for r in rows]


PENDING_MIRRORS = Sql(
    "SELECT event_id, task_id, reason FROM mirrors WHERE state = 'pending'"
    " ORDER BY next_attempt_at LIMIT ?"
)


def unfinished(db: Db, limit: int) -> list[Unfinished]:
    """Up to `limit` jobs still to be copied, held or not."""
    rows = db.all(PENDING_MIRRORS, (limit,))
    return [Unfinished(r["event_id"], r["task_id"], r["reason"]) for r in rows]


GIVE_UP_MIRROR = Sql(
    "UPDATE mirrors SET state = 'failed', reason = ?, lease_owner = NULL, lease_until = NULL"
    " WHERE event_id = ? AND state = 'pending'"
)


def give_up(db: Db, event_id: str, reason: str) -> bool:
    """The job failed for good, with why; False when it had ended already."""
    return bool(db.execute(GIVE_UP_MIRROR, (reason, event_id)))


RELEASE_MIRROR_LEASES = Sql(
    "UPDATE mirrors SET lease_owner = NULL, lease_until = NULL"
    " WHERE state = 'pending' AND lease_owner = ?"
)


def release_leases(db: Db, owner: str) -> None:
    """The copies `owner` holds, free for any worker."""
    db.execute(RELEASE_MIRROR_LEASES, (owner,))


RELEASE_ALL_MIRROR_LEASES = Sql(
    "UPDATE mirrors SET lease_owner = NULL, lease_until = NULL"
    " WHERE state = 'pending' AND lease_owner IS NOT NULL"
)


def release_every_lease(db: Db) -> None:
    db.execute(RELEASE_ALL_MIRROR_LEASES)


PRUNE_MIRRORS = Sql("DELETE FROM mirrors WHERE task_id = ANY(?)")


def prune(db: Db, task_ids: list[str]) -> int:
    """The copy jobs of these tasks deleted; how many."""
    return db.execute(PRUNE_MIRRORS, (db.array(task_ids),))
