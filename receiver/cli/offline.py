"""The store, or the relay's parts around it, opened for one command of the operator tools
and closed after. An action whose rows hang on the sealed secret of a downstream made
through the API needs the relay's own secret (`callbacks.secret_env`): else it is refused."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import structlog

from receiver.cli.common import fail, not_found, settings_of, store_url
from receiver.config import Config, Downstream, Secrets, Settings
from receiver.downstreams import names
from receiver.downstreams.directory import Directory
from receiver.kernel.errors import NotFound, StoreError
from receiver.kernel.observability.logs import add_secrets
from receiver.kernel.store import Store, open_store

if TYPE_CHECKING:
    from receiver.wiring.service import Service
    from receiver.wiring.worker_parts import WorkerParts

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


def relay_keys(settings: Settings) -> list[str]:
    """The relay's own secrets set in this environment (`previous_secret_envs`, then
    `callbacks.secret_env`): what opens the sealed secrets of the downstreams made through
    the API."""
    callbacks = settings.callbacks
    variables = [*callbacks.previous_secret_envs, callbacks.secret_env]
    return [value for name in variables if (value := os.environ.get(name, "").strip())]


class KeyNeeded(Exception):
    """The action would write rows that hang on a sealed secret this process cannot open."""


# Whether an action on a downstream (its kept name) needs the relay's secret here, and
# why; None when it does not.
KeyCheck = Callable[["WorkerParts", "Directory", str], Awaitable["str | None"]]


def with_parts(config_path: str | None, fn: Callable[[WorkerParts, Directory], Awaitable[T]]) -> T:
    """`fn` over the parts on the config's store and its downstreams: for the operator
    actions of receiver/deliveries/actions.py, the same the admin API and the console call."""
    return _with_parts(config_path, lambda parts, directory, _: fn(parts, directory))


def with_downstream(
    config_path: str | None,
    typed: str,
    fn: Callable[[WorkerParts, Directory, str], Awaitable[T]],
    needs_key: KeyCheck | None = None,
) -> tuple[T, str]:
    """`fn` over the parts and the kept name of the downstream `typed` names (an app's:
    APP/NAME); its result, and the name as people read it. One that is not there, or an
    action that needs the relay's secret when it is not set, is refused before any change."""
    shown: list[str] = []

    async def named(parts: WorkerParts, directory: Directory, kept: str) -> T:
        shown.extend((await names.shown_names(parts.store, [kept])).values())
        return await fn(parts, directory, kept)

    return _with_parts(config_path, named, typed, needs_key), shown[0]


def _with_parts(
    config_path: str | None,
    fn: Callable[[WorkerParts, Directory, str], Awaitable[T]],
    typed: str | None = None,
    needs_key: KeyCheck | None = None,
) -> T:
    settings = settings_of(config_path)
    store_url(config_path, settings)
    keys = relay_keys(settings)
    add_secrets(keys)

    async def run() -> T:
        from receiver.app.parts import directory_of, worker_parts

        service = _offline_service(settings, keys)
        directory = directory_of(service, follows=False)
        try:
            await service.store.migrate()
            kept, parts = "", worker_parts(service)
            if typed is not None:
                kept = await _known(service.store, directory, typed)
                if needs_key and not keys and (why := await needs_key(parts, directory, kept)):
                    env = settings.callbacks.secret_env
                    fix = f"set ${env} as the relay has it, or use the API"
                    raise KeyNeeded(f"{typed}: {why}: {fix}")
            return await fn(parts, directory, kept)
        finally:
            # Not Service.close(): this process took no lease, so there is none to give back.
            await service.comet.aclose()
            await service.store.close()

    try:
        return asyncio.run(run())
    except StoreError as exc:
        fail(f"storage error: {exc}")
    except NotFound as exc:
        not_found(exc.detail)
    except KeyNeeded as exc:
        fail(str(exc), status=1)


async def _known(store: Store, directory: Directory, typed: str) -> str:
    """The kept name of a downstream there is; NotFound, in words, else (naming the apps'
    downstreams of that name, which is what a bare name may have meant)."""
    kept = await names.kept_name(store, typed)
    if await directory.knows(kept):
        return kept
    meant = await names.also_named(store, typed)
    hint = f" (an app's is named APP/NAME: {', '.join(meant)})" if meant else ""
    raise NotFound(f"no downstream named {typed!r}{hint}")


def _offline_service(settings: Settings, keys: list[str]) -> Service:
    from receiver.app.build import build_service

    # The operator actions use the store and each downstream's name and events, nothing
    # else: the config is built from the settings alone, with the relay's own secrets when
    # they are set (they open the sealed secrets of the downstreams made through the API),
    # else a throwaway one (the Service wants one; what it cannot open is then only read),
    # and no CometAPI key, as this process never signs nor calls out.
    config = Config.model_construct(
        settings=settings,
        secrets=Secrets(
            api_key="", admin_token="", signing_keys=keys or [secrets.token_urlsafe(32)]
        ),
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
