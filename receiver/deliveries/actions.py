"""What an operator or an app does to what is sent, whichever door they come in by: read
the deliveries it may see, replay one or a downstream's dead letters, disable and enable a
downstream; each once, with its wake-up and its log line."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from receiver.config.sections import DeliveryConfig
from receiver.deliveries import reads as delivery_reads
from receiver.deliveries import transactions as delivery
from receiver.deliveries.fanout.connections import validate
from receiver.deliveries.fanout.handshakes import keep_verdict
from receiver.downstreams import transactions as downstream_transactions
from receiver.downstreams.directory import Directory
from receiver.kernel.errors import InvalidRequest, NotFound
from receiver.kernel.net.request_calls import RequestCalls
from receiver.kernel.store import Store
from receiver.keys.rules import BOOTSTRAP, Caller
from receiver.outbox.rules.delivery import (
    Answer,
    Delivery,
    DeliveryFilter,
    owned_name,
)
from receiver.wiring.worker_parts import WorkerParts


async def replay_deliveries(parts: WorkerParts, delivery_ids: list[str]) -> int:
    """Send these deliveries again at once, whatever their state; how many were found."""
    count = await delivery.replay(parts.store, delivery_ids)
    parts.wakers.wake_deliveries()
    parts.log.info("delivery.replayed", deliveries=count)
    return count


async def deliveries_for(store: Store, caller: Caller, wanted: DeliveryFilter) -> list[Delivery]:
    """The deliveries the caller may read: the admin's, every one; an app's, those to its
    own downstreams (`wanted` names them as the app did) and to its own tasks' webhooks,
    nothing of another app's."""
    if caller.sees_all:
        return await delivery_reads.deliveries(store, wanted)
    app_id = caller.app_id or ""
    if wanted.downstream is not None:  # its tasks' webhooks' too: `<app id>.task-webhook`
        wanted = replace(wanted, downstream=owned_name(app_id, wanted.downstream))
    return await delivery_reads.app_deliveries(store, app_id, wanted)


async def app_delivery(store: Store, caller: Caller, delivery_id: str) -> Delivery:
    """One of the app's own deliveries (to its downstreams or its tasks' webhooks), as the
    store names it; NotFound for any other."""
    found = await delivery_reads.app_deliveries(
        store, caller.app_id or "", DeliveryFilter(limit=1), delivery_id
    )
    if not found:
        raise NotFound("no such delivery")
    return found[0]


async def replay_delivery(parts: WorkerParts, delivery_id: str, caller: Caller = BOOTSTRAP) -> int:
    if not caller.sees_all:
        await app_delivery(parts.store, caller, delivery_id)
    count = await replay_deliveries(parts, [delivery_id])
    if not count:
        raise NotFound("no such delivery")
    return count


async def replay_dead_letters(
    parts: WorkerParts, directory: Directory, downstream: str, caller: Caller = BOOTSTRAP
) -> int:
    """Every dead letter of the downstream queued again; an app names its own."""
    own = owned_name(caller.app_id or "", downstream)
    kept = await directory.kept_of(downstream) if caller.sees_all else own
    if not await directory.knows(kept):
        raise NotFound(f"no downstream named {downstream!r}")
    count = await delivery.replay_dead_letters(parts.store, kept)
    parts.wakers.wake_deliveries()
    parts.log.info("delivery.replayed", downstream=downstream, deliveries=count)
    return count


async def known_downstream(directory: Directory, name: str) -> str:
    """The name a downstream is kept under, given it so or as people read it (`APP/NAME`)."""
    kept = await directory.kept_of(name)
    if not await directory.knows(kept):
        raise NotFound(f"no downstream named {name!r}")
    return kept


async def disable_downstream(parts: WorkerParts, directory: Directory, name: str) -> bool:
    """Stop attempting it; its new deliveries are held. False when it was already."""
    name = await known_downstream(directory, name)
    changed = await delivery.disable(
        parts.store, name, "disabled by an operator", directory.subscribers
    )
    # The `downstream.disabled` notices to its subscribers are committed: send them now.
    parts.wakers.wake_deliveries()
    parts.log.warning("downstream.disabled", downstream=name, reason="operator")
    return changed


async def enable_downstream(
    parts: WorkerParts, directory: Directory, name: str, recover_since: float | None
) -> int:
    """Attempt it again; queue what it held, and what went to dead-letter since then."""
    name = await known_downstream(directory, name)
    queued = await downstream_transactions.enable(parts.store, name, recover_since)
    if await directory.held(name) is not None:
        # Enabled, it still cannot be used: what was queued waits held, with the reason.
        await downstream_transactions.follow_unopened(parts.store, [name], [])
    parts.wakers.wake_deliveries()
    parts.log.info(
        "downstream.enabled", downstream=name, recover_since=recover_since, queued=queued
    )
    return queued


async def validate_downstream(
    parts: WorkerParts,
    rules: DeliveryConfig,
    directory: Directory,
    name: str,
    calls: RequestCalls,
    caller: Caller,
) -> dict[str, Any]:
    """Ask a webhook downstream with a CloudEvents envelope again whether it allows the
    relay's events (the handshake, one OPTIONS), its verdict kept for every replica: allowed,
    what its refusal held goes out, at its allowed rate; refused, it is paused (held) with
    why; no answer, nothing is kept (its next delivery asks, as a failed attempt if none).
    The `OPTIONS` waits within the caller's room of `calls` (429 past it)."""
    name = await known_downstream(directory, name)
    d = await directory.get(name)
    if d is None or not d.needs_handshake:
        raise InvalidRequest(
            "only a webhook downstream with a cloudevents envelope is validated (the"
            " CloudEvents webhook handshake)"
        )
    judged = d.managed and not rules.allow_private_networks
    with calls.call(caller.asker, d.timeout):
        found = await validate(rules, directory, d, judged, directory.origin)
    shown = directory.shown_name(name)
    if isinstance(found, Answer):
        parts.log.info("downstream.validated", downstream=name, answered=False)
        reason = f"no answer: {found.failure}; its next delivery asks again"
        return {
            "downstream": shown,
            "allowed": False,
            "reason": reason,
            "answered": False,
            "queued": 0,
        }
    queued, _ = await keep_verdict(parts, rules, directory, d, found)
    parts.log.info("downstream.validated", downstream=name, allowed=found.allowed, queued=queued)
    return {
        "downstream": shown,
        "allowed": found.allowed,
        "reason": found.reason or None,
        "allowed_rate": found.per_minute,
        "queued": queued,
    }
