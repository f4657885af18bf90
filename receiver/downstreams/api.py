"""The admin API's handlers for downstreams: their health, and those made through the API.

An app's key sees and changes only its app's downstreams, by the names it gave them (another
app's, or a global one, is no such downstream); the admin sees every one, an app's under
`<app id>.<name>`, with its app."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from receiver.app.api import models as m
from receiver.app.api.openapi import reply
from receiver.deliveries import actions as delivery_actions
from receiver.downstreams import manage as managed
from receiver.downstreams import reads as downstream_reads
from receiver.downstreams.directory import directory_of
from receiver.kernel.errors import NotFound
from receiver.kernel.events.rules.routing import owner_of, shown_name
from receiver.kernel.http.body import read_json
from receiver.kernel.service import Service
from receiver.keys.access import caller_of
from receiver.keys.bearers import keys_of
from receiver.keys.rules.access import Caller

MAX_BODY_BYTES = 64 * 1024


async def _payload(request: Request, service: Service) -> Any:
    timeout = service.config.settings.server.body_timeout_seconds
    return await read_json(request, MAX_BODY_BYTES, timeout)


async def _seen(service: Service, caller: Caller, described: dict[str, Any]) -> dict[str, Any]:
    """A downstream as the caller knows it: an app by its own name; the admin with its app."""
    kept = described["name"]
    owner = owner_of(kept)
    if owner is None:
        return described
    if not caller.sees_all:
        return {**described, "name": shown_name(kept)}
    return {**described, "app": (await keys_of(service).app_names([owner])).get(owner)}


def own_name(request: Request, service: Service, name: str) -> str:
    """The name the caller's downstream is kept under; 404 (by the name the caller gave)
    when there is none of its own."""
    caller = caller_of(request)
    kept = managed.kept_name(caller, name)
    if not directory_of(service).knows(kept) or not managed.sees(caller, kept):
        raise NotFound(f"no downstream named {name!r}")
    return kept


async def list_downstreams(request: Request, service: Service, params: m.NoParams) -> Response:
    caller = caller_of(request)
    names = [
        n
        for n in (*directory_of(service).every, *directory_of(service).unusable)
        if managed.sees(caller, n)
    ]
    made, health = await downstream_reads.downstreams_made(service.store, names)
    rows = {row.name: row for row in made}
    now = time.time()
    listed = [
        await _seen(
            service,
            caller,
            {**h.summary(), **managed.describe_any(service, h.name, rows.get(h.name), now)},
        )
        for h in health
    ]
    return reply(m.DownstreamList, {"downstreams": listed})


async def get_downstream(
    request: Request, service: Service, params: m.DownstreamParams
) -> Response:
    described = await managed.describe_downstream(service, own_name(request, service, params.name))
    return reply(m.DownstreamDetail, await _seen(service, caller_of(request), described))


async def create_downstream(request: Request, service: Service, params: m.NoParams) -> Response:
    caller = caller_of(request)
    payload = await _payload(request, service)
    described, secret = await managed.create_downstream(service, payload, caller)
    seen = await _seen(service, caller, described)
    return reply(m.DownstreamCreated, {**seen, "secret": secret}, 201)


async def change_downstream(
    request: Request, service: Service, params: m.DownstreamParams
) -> Response:
    kept = own_name(request, service, params.name)
    payload = await _payload(request, service)
    described = await managed.change_downstream(service, kept, payload)
    return reply(m.DownstreamDetail, await _seen(service, caller_of(request), described))


async def remove_downstream(
    request: Request, service: Service, params: m.DownstreamParams
) -> Response:
    ended = await managed.remove_downstream(service, own_name(request, service, params.name))
    return reply(m.Removed, {"downstream": params.name, "removed": True, "deliveries_ended": ended})


async def rotate_secret(request: Request, service: Service, params: m.DownstreamParams) -> Response:
    secret, until = await managed.rotate_secret(service, own_name(request, service, params.name))
    body = {"downstream": params.name, "secret": secret, "previous_secret_until": until}
    return reply(m.SecretRotated, body)


async def disable_downstream(
    request: Request, service: Service, params: m.DownstreamParams
) -> Response:
    kept = own_name(request, service, params.name)
    changed = await delivery_actions.disable_downstream(service, kept)
    return reply(m.Disabled, {"downstream": params.name, "disabled": True, "changed": changed})


async def enable_downstream(request: Request, service: Service, params: m.EnableParams) -> Response:
    kept = own_name(request, service, params.name)
    queued = await delivery_actions.enable_downstream(service, kept, params.recover_since)
    return reply(m.Enabled, {"downstream": params.name, "disabled": False, "queued": queued})
