"""Downstreams made through the API: create, change, rotate the secret of, remove, and how any
downstream is described. Whichever door the operator comes in by (the admin API, the
console, the command line), each action is here once."""

from __future__ import annotations

import time
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from receiver.adapters.guard import check_api_url
from receiver.adapters.sealing import Unsealable
from receiver.adapters.webhooks import new_secret
from receiver.config import (
    Downstream,
    DownstreamChange,
    ManagedDownstreamConfig,
    problems,
    timeout_problem,
)
from receiver.domain.routing import TASK_WEBHOOK
from receiver.errors import Conflict, InvalidRequest, NotFound
from receiver.persist.managed import ManagedRow
from receiver.pipeline.directory import REMOVED
from receiver.pipeline.service import Service, Work

M = TypeVar("M", bound=BaseModel)


def _read(model: type[M], payload: Any) -> M:
    if not isinstance(payload, dict):
        raise InvalidRequest("body must be a JSON object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise InvalidRequest("; ".join(problems(exc, "body"))) from None


def _checked(service: Service, spec: Any) -> ManagedDownstreamConfig:
    """Settings that pass the same rules as the config file's, with a URL from the API:
    public addresses only, unless the operator allows private ones."""
    settings = _read(ManagedDownstreamConfig, spec)
    lease = service.config.settings.delivery.lease_seconds
    if (problem := timeout_problem(settings.timeout, lease)) is not None:
        raise InvalidRequest(f"timeout: {problem}")
    if not service.config.settings.delivery.allow_private_networks:
        check_api_url(settings.url, "url")
    return settings


def _spec(settings: ManagedDownstreamConfig) -> dict[str, Any]:
    return settings.model_dump(exclude={"name"}, exclude_none=True)


def _managed_name(service: Service, name: str) -> str:
    """A name the API may change: not the config file's, nor the tasks' webhooks'."""
    if name in service.directory.configured:
        raise Conflict(
            f"{name!r} comes from the config file: change or remove it there (the API"
            " manages only the downstreams it made)"
        )
    if name == TASK_WEBHOOK:
        raise Conflict(f"{TASK_WEBHOOK!r} is the name of the tasks' own webhooks")
    return name


async def _changed(service: Service) -> None:
    """In use in this process at once; the other replicas follow within a tick."""
    await service.directory.refresh()
    service.wake(Work.DELIVERIES)


async def create_downstream(service: Service, payload: Any) -> tuple[dict[str, Any], str]:
    """A new downstream and its freshly made secret (shown this once)."""
    settings = _checked(service, payload)
    name = _managed_name(service, settings.name)
    secret = new_secret()
    sealed = service.directory.sealer.seal(secret, name)
    await service.store.create_managed(name, _spec(settings), sealed)
    await _changed(service)
    service.log.info("downstream.created", downstream=name, format=settings.format)
    return await describe_downstream(service, name), secret


async def change_downstream(service: Service, name: str, payload: Any) -> dict[str, Any]:
    _managed_name(service, name)
    change = _read(DownstreamChange, payload).model_dump(exclude_unset=True)
    row = await service.store.managed_downstream(name)
    settings = _checked(service, {**row.spec, **change, "name": name})
    await service.store.change_managed(name, _spec(settings))
    await _changed(service)
    service.log.info("downstream.changed", downstream=name, fields=sorted(change))
    return await describe_downstream(service, name)


async def rotate_secret(service: Service, name: str) -> tuple[str, float]:
    """A new secret; the old one signs beside it until the overlap ends (returned)."""
    _managed_name(service, name)
    row = await service.store.managed_downstream(name)
    sealer = service.directory.sealer
    secret = new_secret()
    overlap = service.config.settings.delivery.rotation_overlap_seconds
    try:
        sealer.open(row.sealed_secret, name)
        previous: str | None = row.sealed_secret
    except Unsealable:
        previous = None  # its key is gone: nothing to keep signing with
    await service.store.rotate_managed(name, sealer.seal(secret, name), previous, overlap)
    await _changed(service)
    rotated = await service.store.managed_downstream(name)
    service.log.info("downstream.secret_rotated", downstream=name, overlap_seconds=overlap)
    return secret, rotated.previous_until or rotated.changed_at


async def remove_downstream(service: Service, name: str) -> int:
    """Gone at once: what it still had to deliver ends as dead letters; how many."""
    _managed_name(service, name)
    ended = await service.store.remove_managed(name, REMOVED)
    await _changed(service)
    service.log.warning("downstream.removed", downstream=name, deliveries_ended=ended)
    return ended


def shown_url(d: Downstream) -> str:
    """The URL as the API may show it: a chat webhook's URL is its credential (only its
    origin is shown), a broker URL's password is left out."""
    parts = urlsplit(d.url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    if d.url_is_secret:
        return f"{parts.scheme}://{host}/…"
    if parts.password is not None:
        return parts._replace(netloc=f"{parts.username or ''}:***@{host}").geturl()
    return d.url


def describe(d: Downstream, row: ManagedRow | None, now: float) -> dict[str, Any]:
    """What a downstream is, never its secret."""
    out: dict[str, Any] = {
        "name": d.name,
        "source": "api" if d.managed else "config",
        "url": shown_url(d),
        **d.model_dump(
            include={
                "format",
                "channels",
                "timeout",
                "max_in_flight",
                "rate_per_second",
                "breaker_failure_rate",
                "breaker_min_attempts",
                "breaker_window_seconds",
                "breaker_cool_off_seconds",
                "disable_after_seconds",
                "exchange",
                "routing_key",
                "subject",
                "topic",
                "stream",
                "maxlen",
            },
            exclude_none=True,
        ),
        "events": sorted(d.events),
        "signed": bool(d.secret),
    }
    if row is not None:
        out["created_at"] = row.created_at
        out["changed_at"] = row.changed_at
        rotating = row.previous_until is not None and now < row.previous_until
        out["previous_secret_until"] = row.previous_until if rotating else None
    return out


async def describe_downstream(service: Service, name: str) -> dict[str, Any]:
    """One downstream, config or API, with its health."""
    d = service.directory.get(name)
    if d is None:
        raise NotFound(f"no downstream named {name!r}")
    row = await service.store.managed_downstream(name) if d.managed else None
    (health,) = await service.store.downstream_health([name])
    return {**health.summary(), **describe(d, row, time.time())}
