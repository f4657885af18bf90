"""The store, or the relay's Service around it, opened for one command and closed after.

The operator tools run beside the relay (or while it is down) with only its config file:
they read and change the store, and never need a secret, so none has to be set for them.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import structlog

from receiver.cli.common import fail, settings_of, store_url
from receiver.config import Config, Downstream, Secrets, Settings
from receiver.deliveries import actions as delivery_actions
from receiver.downstreams.directory import Directory, new_directory
from receiver.kernel.errors import NotFound, StoreError
from receiver.kernel.store import Store, open_store

if TYPE_CHECKING:
    from receiver.wiring.service import Service

T = TypeVar("T")


def with_store(
    config_path: str | None, fn: Callable[[Store], Awaitable[T]], to_run: bool = False
) -> T:
    """`fn` over the store the config names; a store that is away fails in one line. Only
    the relay's own processes (`to_run`) make a SQLite file that is not there yet; the
    tools over the store migrate it to this release's schema."""
    settings = settings_of(config_path)
    url = settings.storage.url if to_run else store_url(config_path, settings)

    async def run() -> T:
        store = open_store(url)
        try:
            if not to_run:
                await store.migrate()
            return await fn(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except StoreError as exc:
        fail(f"storage error: {exc}")


def with_service(
    config_path: str | None,
    fn: Callable[[Service, Directory], Awaitable[T]],
    downstream: str | None = None,
) -> T:
    """`fn` over a Service on the config's store and its downstreams: for the operator
    actions of receiver/deliveries/actions.py, the same the admin API and the console call.
    The `downstream` they name, if any, is refused before anything changes when there is
    none of that name."""
    settings = settings_of(config_path)
    store_url(config_path, settings)

    async def run() -> T:
        service = _offline_service(settings)
        directory = new_directory(service)
        try:
            await service.store.migrate()
            if downstream is not None:
                await directory.refresh()  # the names made through the API too
                delivery_actions.known_downstream(directory, downstream)
            return await fn(service, directory)
        finally:
            # Not Service.close(): this process took no lease, so there is none to give back.
            await service.comet.aclose()
            await service.store.close()

    try:
        return asyncio.run(run())
    except StoreError as exc:
        fail(f"storage error: {exc}")
    except NotFound as exc:
        fail(exc.detail)


def _offline_service(settings: Settings) -> Service:
    from receiver.app.build import build_service

    # The operator actions use the store and each downstream's name and events, nothing
    # else: the config is built from the settings alone, with a throwaway signing key (the
    # Service wants one) and no CometAPI key, as this process never signs nor calls out.
    config = Config.model_construct(
        settings=settings,
        secrets=Secrets(api_key="", admin_token="", signing_keys=[secrets.token_urlsafe(32)]),
        downstreams=[
            Downstream.model_construct(name=d.name, events=frozenset(d.events))
            for d in settings.downstream
        ],
    )
    service = build_service(config)
    # The command's own line on stdout says what it did, as it always has: the service's
    # log lines would land on stdout too, in its way.
    service.log = structlog.wrap_logger(structlog.ReturnLogger(), processors=[])
    return service
