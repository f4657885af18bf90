"""The admin API's handlers for downstreams: their health, and those made through the API."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from receiver.pipeline import downstreams as managed
from receiver.pipeline import operations
from receiver.pipeline.service import Service
from receiver.transitions import queries
from receiver.web.api import models as m
from receiver.web.api.openapi import reply
from receiver.web.body import read_json

MAX_BODY_BYTES = 64 * 1024


async def _payload(request: Request, service: Service) -> Any:
    timeout = service.config.settings.server.body_timeout_seconds
    return await read_json(request, MAX_BODY_BYTES, timeout)


async def list_downstreams(request: Request, service: Service, params: m.NoParams) -> Response:
    names = [*service.directory.every, *service.directory.unusable]
    made, health = await queries.downstreams_made(service.store, names)
    rows = {row.name: row for row in made}
    now = time.time()
    listed = [
        {**h.summary(), **managed.describe_any(service, h.name, rows.get(h.name), now)}
        for h in health
    ]
    return reply(m.DownstreamList, {"downstreams": listed})


async def get_downstream(
    request: Request, service: Service, params: m.DownstreamParams
) -> Response:
    return reply(m.DownstreamDetail, await managed.describe_downstream(service, params.name))


async def create_downstream(request: Request, service: Service, params: m.NoParams) -> Response:
    described, secret = await managed.create_downstream(service, await _payload(request, service))
    return reply(m.DownstreamCreated, {**described, "secret": secret}, 201)


async def change_downstream(
    request: Request, service: Service, params: m.DownstreamParams
) -> Response:
    payload = await _payload(request, service)
    return reply(m.DownstreamDetail, await managed.change_downstream(service, params.name, payload))


async def remove_downstream(
    request: Request, service: Service, params: m.DownstreamParams
) -> Response:
    ended = await managed.remove_downstream(service, params.name)
    return reply(m.Removed, {"downstream": params.name, "removed": True, "deliveries_ended": ended})


async def rotate_secret(request: Request, service: Service, params: m.DownstreamParams) -> Response:
    secret, until = await managed.rotate_secret(service, params.name)
    body = {"downstream": params.name, "secret": secret, "previous_secret_until": until}
    return reply(m.SecretRotated, body)


async def disable_downstream(
    request: Request, service: Service, params: m.DownstreamParams
) -> Response:
    changed = await operations.disable_downstream(service, params.name)
    return reply(m.Disabled, {"downstream": params.name, "disabled": True, "changed": changed})


async def enable_downstream(request: Request, service: Service, params: m.EnableParams) -> Response:
    queued = await operations.enable_downstream(service, params.name, params.recover_since)
    return reply(m.Enabled, {"downstream": params.name, "disabled": False, "queued": queued})
