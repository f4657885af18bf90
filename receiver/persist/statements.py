"""The name of every statement the store's transaction functions run, and what it does.

Each statement's text is written once, for both backends, in receiver/persist/sql/ (only
where the dialects really differ are both texts written out there), and each backend reads
them in its driver's placeholder style when it is loaded (receiver/persist/sqlite/statements.py,
receiver/persist/postgres/statements.py). A function runs `db.sql.NAME` and never builds
SQL, so each text can be read, and its plan checked, as the database will see it. Parameters
are positional, in the order each comment gives; an optional filter takes its value twice
(NULL: no filter).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Statements:
    """Every statement's text, in one backend's dialect."""

    # --- liveness
    PING: str  # one row: the database answers

    # --- migrations (migrate.py)
    APPLIED_MIGRATIONS: str  # the versions applied
    MIGRATION_CHECKSUMS: str  # version, checksum of every applied migration
    MARK_MIGRATED: str  # (version) is applied
    KEEP_CHECKSUM: str  # (version, checksum) of an applied migration

    # --- tasks (tasks.py)
    TASK: str  # a task by (id)
    TASK_BY_KEY: str  # a task by (idempotency_key)
    INSERT_TASK: str  # (id, kind, request, idempotency_key, request_hash, submit_due_at,
    #   submit_since, created_at, updated_at, routing, trace_context, owner_key): queued
    INSERT_TASK_INPUT: str  # (task_id, sha256, part, body, created_at): a part of a data URI
    TASK_INPUTS: str  # (task_id) sha256, parts, chars: each data URI the request refers to
    TASK_INPUT_WHOLES: str  # (task_id, [sha256]) sha256, body: the first part of each
    TASK_INPUT_PART: str  # (task_id, sha256, part) body: one part of one
    TASK_EVENTS: str  # (task_id, limit) newest events, without bodies, newest first
    TASK_DELIVERIES: str  # (task_id, limit) newest deliveries, newest first
    EVENT_BODIES: str  # (task_id, limit) newest events' id, payload, raw, newest first
    # Task lists (not the relay's own), newest first: what the variant names, then (since,
    # kind, kind, pattern, pattern, floor, floor, owner_key, owner_key, limit), kind, LIKE
    # pattern, floor and owner optional. One variant per index they read through.
    LIST_TASKS: str  # () any state, from the newest: down the primary key
    LIST_TASKS_BEFORE: str  # (before) ids below the cursor: down the primary key from it
    LIST_TASKS_IN_STATE: str  # (state, before, before) optional cursor: by (state, created_at)
    # (before, before, n) the id n tasks down from the cursor: where a search's window ends
    SEARCH_WINDOW_END: str
    # (error, terminal_at, updated_at, id) a task a worker could not handle: failed with the
    # reason if unfinished, and out of every queue (no poll, no send)
    SET_TASK_ASIDE: str

    # --- observations (observations.py)
    LOCKED_TASK: str  # a task by (id), locked against other writers until the transaction ends
    BIND_SUBMISSION: str  # (upstream_task_id, next_poll_at, updated_at, id): CometAPI took it
    INSERT_EVENT: str  # (id, task_id, source, dedupe_key, state, upstream_status, applied,
    #   received_at, raw, payload, verdict, verdict_at); nothing on a repeated dedupe key
    ADVANCE_TASK: str  # (state, upstream_status, outputs, thumbnail, error, updated_at,
    #   terminal_at, id): the task moves forward, not to a final state
    END_TASK: str  # ADVANCE_TASK's parameters: to a final state, which is never polled again
    SET_TASK_COST: str  # (point, refund, id)
    BIND_UPSTREAM: str  # (upstream_task_id, id)
    COUNT_CALLBACK: str  # (bytes, id): one more callback kept against the history bound
    LAST_POLLED: str  # (id) when CometAPI was last asked about the task
    BRING_POLL_FORWARD: str  # (claim, now, upstream_task_id, due, due, id): poll by `due`,
    #   and when `claim`, a callback's claim waits since `now` (unless it already did)
    PENDING_CLAIMS: str  # (task_id) the callbacks' claims waiting for a verdict, oldest first
    SET_VERDICT: str  # (verdict, verdict_at, event id)
    SET_PROGRESS: str  # (progress, updated_at, id)
    SET_PROGRESS_SENT: str  # (progress_sent, progress_sent_at, id): its last progress event
    FINISH_POLL: str  # (next_poll_at, last_polled_at, claim_since, id, owner): the poll is
    #   counted and its lease given back, if `owner` still holds it
    SET_POLL_TIMING: str  # (started_at, expected_end_at, id): first seen running, end aimed at
    RECENT_DURATIONS: str  # (timing_key, limit) seconds from submit to end, newest first
    KEEP_DURATION: str  # (timing_key, seconds, ended_at)
    TRIM_DURATIONS: str  # (timing_key, timing_key, keep) all but the newest `keep` of a key

    # --- the outbox (outbox.py)
    WAITING_PROGRESS: str  # (task_id) its progress deliveries pending or held
    REPOINT_DELIVERIES: str  # (event_id, updated_at, ids): rows that now carry that event
    SUPERSEDE_PROGRESS: str  # (updated_at, task_id, task_id): its waiting progress rows end
    INSERT_DELIVERY: str  # (id, event_id, task_id, downstream, state, last_error,
    #   next_attempt_at, created_at, updated_at)
    DUE_DOWNSTREAMS: str  # (now, now) names of the downstreams with a pending delivery due
    #   and not leased
    DUE_DELIVERIES: str  # (downstream, now, now, limit) ids of its pending deliveries due and
    #   not leased, oldest due first, none behind an earlier pending one of its task, and
    #   none another transaction is claiming
    DUE_NEW_DELIVERIES: str  # (ids, now) of these just-inserted deliveries, id and downstream
    #   of those pending, due and none behind an earlier pending one of its task
    LEASE_DELIVERIES: str  # (owner, lease_until, ids)
    SET_TASK_ROUTING: str  # (routing JSON, task id)
    END_TASK_DELIVERIES: str  # (reason, now, task_id, downstream, except_id)
    TASK_WEBHOOKS: str  # (task ids) their routing, for their own webhooks' deliveries
    LEASED_DELIVERIES: str  # (ids) each with its event's payload and the task's chat message
    FINISH_DELIVERY: str  # (state, next_attempt_at, last_status, last_error, updated_at,
    #   state, delivered_at, id, owner): an attempt's outcome, if `owner` holds the lease
    INSERT_ATTEMPT: str  # (id, delivery_id, task_id, downstream, number, started_at,
    #   finished_at, latency_ms, status, error, outcome, excerpt)
    INSERT_CHAT_MESSAGE: str  # (message_id, media, delivery id): the task's first message
    #   at the delivery's downstream, unless it has one
    RELEASE_DELIVERY_LEASES: str  # (owner)
    RELEASE_POLL_LEASES: str  # (owner)
    RELEASE_ALL_DELIVERY_LEASES: str  # every delivery lease
    RELEASE_ALL_POLL_LEASES: str  # every poll lease
    # Delivery lists, newest first: what the variant names, then (limit). One variant per
    # index read.
    DELIVERIES: str  # (downstream, downstream) optional: every row
    DELIVERIES_OF_TASK: str  # (task_id, state, state, downstream, downstream) optional ones
    APP_DELIVERIES: str  # (prefix length, prefix, app id, state, state, downstream, downstream,
    #   task_id, task_id, id, id, limit) an app's deliveries: its downstreams' and its tasks'
    #   own webhooks', newest first
    DELIVERIES_IN_STATE: str  # (state)
    DELIVERIES_IN_STATE_TO: str  # (state, downstream)
    REPLAY: str  # (next_attempt_at, updated_at, id): pending again, not leased
    DEAD_LETTERS: str  # (downstream) ids of its dead deliveries, oldest first
    DUE_POLLS: str  # (now, now, ceiling, ceiling, limit) id, kind, upstream_task_id,
    #   created_at, poll_attempts of tasks due for a poll and not leased, none another
    #   transaction is claiming, nearest their end first
    DUE_POLL: str  # (id, now, now) the DUE_POLLS columns of that one task if it is due
    #   and not leased
    LEASE_POLL: str  # (owner, poll_lease_until, id)
    POLL_BUDGET: str  # tokens, refilled_at of the replicas' one poll budget, locked
    POLLS_HELD_UNTIL: str  # refilled_at of the poll budget, not locked
    SET_POLL_BUDGET: str  # (tokens, refilled_at)
    ORPHANED_SUBMISSIONS: str  # (started_before, limit) unfinished tasks with no upstream id
    #   whose send has been in flight since before then (cut off: CometAPI never answered)

    # --- reads for operators (reads.py)
    TASKS_BY_STATE: str  # state, n: tasks (not the relay's own)
    DELIVERIES_BY_STATE: str  # state, n
    CREDITS: str  # charged, refunded over every task
    TASK_ATTEMPTS: str  # (task_id, limit) newest delivery attempts, newest first
    CHANGED_TASKS: str  # (since, limit) tasks updated after `since`, oldest first
    CHANGED_TASK: str  # (since, id, limit) the same, of one task
    ENDED_ATTEMPTS: str  # (since, limit) attempts finished after `since`, oldest first
    ENDED_ATTEMPTS_OF_TASK: str  # (since, task_id, limit) the same, of one task
    TASKS_ENDED_BY_HOUR: str  # (since) hour, state, n: tasks ended since, by hour and state
    LATENCY_BY_HOUR: str  # (since) hour, downstream, ms, n: mean attempt latency by hour

    # --- downstreams (downstreams.py)
    REGISTER_DOWNSTREAM: str  # (name), unless it has a row
    DISABLED_DOWNSTREAMS: str  # names of the disabled ones
    DOWNSTREAMS: str  # every downstream's row
    DELIVERIES_BY_DOWNSTREAM: str  # downstream, state, n
    DOWNSTREAM_OK: str  # (name): not failing
    DOWNSTREAM_FAILING: str  # (failing_since, name), unless it was failing already
    DOWNSTREAM_FAILURE: str  # (name) failing_since, disabled_at
    DISABLE_DOWNSTREAM: str  # (disabled_at, reason, name), unless it is disabled already
    HOLD_DELIVERIES: str  # (updated_at, downstream): its pending deliveries held
    INSERT_NOTICE: str  # (event id, task_id, dedupe_key, state, received_at, payload): an
    #   event of the relay's own
    ENABLE_DOWNSTREAM: str  # (name)
    REQUEUE_RECOVERED: str  # (next_attempt_at, updated_at, downstream, since, since): what
    #   it held since `since`, and what went dead since then, pending again
    DEAD_LETTER_HELD: str  # (updated_at, downstream): the rest of what it held goes dead

    # --- downstreams made through the API (managed.py)
    MANAGED_DOWNSTREAMS: str  # every one's row
    MANAGED_DOWNSTREAM: str  # (name) its row, if it is one
    CREATE_MANAGED: str  # (spec, sealed_secret, created_at, changed_at, name): its row made one
    CHANGE_MANAGED: str  # (spec, changed_at, name)
    ROTATE_MANAGED: str  # (sealed_secret, sealed_previous, previous_until, changed_at, name)
    RESEAL_MANAGED: str  # (sealed_secret, sealed_previous, name)
    REMOVE_MANAGED: str  # (name): its row gone
    END_DOWNSTREAM_DELIVERIES: str  # (last_error, updated_at, downstream): what waits, dead
    NEXT_DOWNSTREAM_CHANGE: str  # () the change counter's next number, its row locked
    LAST_DOWNSTREAM_CHANGE: str  # () seq: the counter's number
    MARK_MANAGED_CHANGE: str  # (change_seq, name): the managed downstream's last change
    NOTE_MANAGED_REMOVAL: str  # (change_seq, name): it was removed at that change
    MANAGED_CHANGED_SINCE: str  # (change_seq) managed rows changed after it, in order
    MANAGED_REMOVED_SINCE: str  # (change_seq) change_seq, name: removals after it, in order
    HOLD_UNOPENED: str  # (reason, updated_at, names): their pending rows held, with why
    RELEASE_UNOPENED: str  # (next_attempt_at, updated_at, names, reason): rows held for that
    #   reason pending again, unless the downstream is disabled
    NOTE_BREAKER: str  # (breaker, breaker_changed_at, name)

    # --- mirror jobs (mirrors.py)
    INSERT_MIRROR: str  # (event_id, task_id, sources, started_at, next_attempt_at)
    MIRROR_PENDING: str  # (task_id) a row while one of the task's copies is being made
    DUE_MIRRORS: str  # (now, now, limit) pending jobs due and not leased, with their task's
    #   kind and upstream id and their last error, oldest due first, none another
    #   transaction is claiming
    LEASE_MIRROR: str  # (owner, lease_until, event_id)
    RETRY_MIRROR: str  # (next_attempt_at, reason, sources, event_id, owner)
    FINISH_MIRROR: str  # (state, reason, event_id, owner)
    EVENT_PAYLOAD: str  # (id) an event's document
    SET_EVENT_PAYLOAD: str  # (payload, id)
    MIRRORING_DELIVERIES: str  # (event_id) ids of its deliveries waiting for the copy
    RELEASE_MIRRORING: str  # (next_attempt_at, updated_at, event_id): those go pending

    # --- console sessions (sessions.py)
    REVOKE_SESSION: str  # (session_id, expires_at), unless it is revoked already
    SESSION_REVOKED: str  # (session_id) a row when it is
    PURGE_REVOCATIONS: str  # (now) revocations of cookies that have expired anyway
    # --- API keys (keys.py): a key's limits and weight are its app's
    # (id, name, digest, scopes, created_at, weight, max_queued, max_per_day, app_id),
    # unless a live key has the name
    INSERT_KEY: str
    KEY_BY_DIGEST: str  # (digests) the live key of a live app with one of these hashes
    LIVE_KEYS: str  # (app_id, app_id) every key not revoked, by name; of one app if given
    REVOKE_KEY: str  # (revoked_at, id) unless it is revoked already
    REHASH_KEY: str  # (digest, id): hashed under the relay's newest secret
    KEY_USED: str  # (last_used_at, id)
    KEY_LIVE: str  # (id) a row while the key is not revoked
    LOCKED_KEY_LIMITS: str  # (app_id) its limits, the app locked against other submits
    KEY_OPEN_TASKS: str  # (owner_key: the app) how many of its tasks have not ended
    KEY_TASKS_SINCE: str  # (owner_key, since) how many it made after `since`
    KEY_TASK_MADE_AT: str  # (owner_key, since, offset) when the offset-th of those was made
    # --- apps (apps.py)
    INSERT_APP: str  # (id, name, weight, max_queued, max_per_day, created_at), unless a
    #   live app has the name
    APP_NAMED: str  # (name) the live app, with how many live keys it has
    LIVE_APPS: str  # () every app not deleted, by name
    APP_NAMES: str  # (ids) id, name of each, deleted or not
    CHANGE_APP: str  # (weight, max_queued, max_per_day, id)
    DELETE_APP: str  # (deleted_at, id) unless it is deleted already
    REVOKE_APP_KEYS: str  # (revoked_at, app_id) its every live key
    SET_PORTAL_FRAMING: str  # (origins or NULL, id) who may frame its portal
    PORTAL_APP: str  # (since, id) id, name, portal_frame_ancestors, key_id: the live app and
    #   its oldest live key made at or before `since` (NULL: none)
    LIVE_KEY_NAMED: str  # (name, app_id, app_id) id, app_id, app of the live key; in one app
    #   if given
    # --- media copies: leases and the jobs given up (mirrors.py)
    RELEASE_MIRROR_LEASES: str  # (owner) the pending jobs it holds, not leased
    RELEASE_ALL_MIRROR_LEASES: str  # every pending job's lease
    RENEW_MIRROR_LEASE: str  # (lease_until, event_id, owner), if `owner` holds it
    OVERDUE_MIRRORS: str  # (started_before, now, limit) event_id, task_id, reason of pending
    #   jobs started before then and not leased, none another transaction is claiming
    PENDING_MIRRORS: str  # (limit) event_id, task_id, reason of pending jobs, leased or not
    GIVE_UP_MIRROR: str  # (reason, event_id): failed, unless it has ended already
    # --- the submit queue (queue.py)
    SUBMIT_GATE: str  # () paused_until, reason: the one gate row, locked until the end of the
    #   transaction, so replicas claim one at a time
    PAUSE_SUBMITS: str  # (paused_until, reason, paused_until): every send waits, never less
    RUNNING_UPSTREAM: str  # () n: unfinished tasks sent to CometAPI or being sent
    WAITING_SUBMITS: str  # () n: tasks waiting to be sent
    DUE_LINES: str  # (now, depth) id, owner ('' for the admin token's), weight of each key's
    #   oldest `depth` waiting tasks that are due
    DUE_SUBMITS: str  # (ids) id, kind, request, state, upstream_task_id, submit_count,
    #   submit_since, resubmits, trace_context of those still waiting, none another
    #   transaction is claiming
    LAST_TURN: str  # () last_turn, turn_left: the key whose task was claimed last, and how
    #   many more its turn has
    SET_LAST_TURN: str  # (last_turn, turn_left)
    START_SUBMIT: str  # (owner, started_at, id): out of the queue, in flight, counted
    LEAVE_QUEUE: str  # (id): not waiting any more
    END_SUBMIT: str  # (submit_due_at, updated_at, id, owner): the send is over; waiting again
    #   from `submit_due_at` (NULL: not), if `owner` is sending it
    ABANDON_SUBMIT: str  # (id): a send cut off is given up
    INSERT_SUBMIT_ATTEMPT: str  # (id, task_id, number, started_at, finished_at, status, error,
    #   outcome, retry_at)
    SUBMIT_ATTEMPTS: str  # (task_id, limit) the task's newest sends, newest first
    QUEUE_POSITION: str  # (id) n: waiting tasks up to this waiting one (1: sent next)
    REQUEUE_FAILED: str  # (replaced_upstream_ids, submit_due_at, submit_since, updated_at, id):
    #   a new upstream task is to be made; the failed one's id is set aside, polls stop
    # --- retention: pruning ended tasks, the store's size (retention.py)
    PRUNE_CANDIDATES: str  # (ended_before, after_at, after_id, limit) ended tasks past the
    #   cursor, oldest ended first: id, state, terminal_at, unfinished (deliveries pending,
    #   held or mirroring), last_dead_at (when its newest dead letter died)
    PRUNE_COUNTS: str  # (ids, ids, ids, ids, ids) attempts, chat_messages, mirrors,
    #   deliveries, events of those tasks: what deleting them removes
    PRUNE_ATTEMPTS: str  # (ids) delete the tasks' delivery attempts
    PRUNE_SUBMIT_ATTEMPTS: str  # (ids) delete the tasks' sends to CometAPI
    PRUNE_TASK_INPUTS: str  # (ids) their data URIs
    PRUNE_CHAT_MESSAGES: str  # (ids) their chat messages
    PRUNE_MIRRORS: str  # (ids) their mirror jobs
    PRUNE_DELIVERIES: str  # (ids) their outbox rows
    PRUNE_EVENTS: str  # (ids) their events and raw bodies
    PRUNE_TASKS: str  # (ids) the tasks, idempotency keys with them
    TAKE_MAINTENANCE_LEASE: str  # (owner, until, name, owner, now): held by `owner` until
    #   `until`, unless another holds it; one row when taken
    RELEASE_MAINTENANCE_LEASE: str  # (name, owner)
    STORE_SIZE: str  # bytes, free_bytes: what the store takes on disk, and of it what is free
