"""The apps (admin), their routes and models: an app made, listed, shown, changed and
deleted, and its keys made (each shown in that answer only), listed and revoked. An app owns
the tasks its keys make, its turns in the submit queue and its limits, so a key rotated
loses nothing."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import Field
from starlette.responses import Response

from receiver.alerts import transactions as alerts
from receiver.config.sections import ServerConfig
from receiver.downstreams import manage as managed
from receiver.downstreams import transactions as downstream_transactions
from receiver.downstreams.api import Downstreams
from receiver.kernel.errors import InvalidRequest
from receiver.kernel.http.body import read_json
from receiver.kernel.http.models import Answer, ErrorAnswer
from receiver.kernel.http.openapi import PathName, answer, body, reply
from receiver.keys.api import KeyCreated, KeyList, KeyName, KeyRevoked, checked, key_info
from receiver.keys.guard import Keyring, caller_of, operation
from receiver.keys.rows.apps import AppRow, AppSettings
from receiver.keys.rules import Scope
from receiver.keys.transactions import apps as app_transactions
from receiver.outbox.rules.delivery import owned_name
from receiver.wiring.dependencies import AccessChange, ServerSection, Stored, Workers

MAX_APP_BODY_BYTES = 16 * 1024
_ERR = ErrorAnswer

Weight = Annotated[int, Field(strict=True, ge=1, le=100)]
MaxQueued = Annotated[int, Field(strict=True, ge=1, le=1_000_000)]

MaxPerDay = Annotated[int, Field(strict=True, ge=1, le=10_000_000)]


class AppChange(Answer):
    weight: Weight = Field(
        1,
        description="Its share of the submit queue's turns: this many of its waiting tasks"
        " go to CometAPI for each one of an app of weight 1.",
    )
    max_queued: MaxQueued | None = Field(
        None,
        description="At most this many of its tasks not ended at once; one more is refused"
        " with 429 and `Retry-After`. Null: no limit.",
    )
    max_per_day: MaxPerDay | None = Field(
        None,
        description="At most this many tasks made in any 24 hours (a rolling window); one more"
        " is refused with 429 and `Retry-After`. Null: no limit.",
    )


Origin = Annotated[
    str,
    Field(
        max_length=253,
        pattern=r"^https?://(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?$",
    ),
]


class AppChangeAll(AppChange):
    portal_frame_ancestors: list[Origin] | None = Field(
        None,
        max_length=10,
        description="The origins (`https://app.example.com`, `https://*.example.com`) whose"
        " pages may frame the app's portal (`frame-ancestors`); empty or null: none may.",
    )
    alert_downstream: KeyName | None = Field(
        None,
        description="One of its own downstreams (the name it gave it) that receives the"
        " operator alerts about its downstreams (`endpoint.failing`, `endpoint.recovered`,"
        " `endpoint.disabled`); null: none.",
    )


class AlertChoice(Answer):
    alert_downstream: str | None = Field(
        max_length=130,
        description="One of the key's app's own downstreams, by the name the app gave it"
        " (or `APP/NAME` with its own app's name), that receives the operator alerts about"
        " its downstreams (`endpoint.failing`, `endpoint.recovered`, `endpoint.disabled`);"
        " null: none.",
    )


class AppAlerts(Answer):
    app: str = Field(description="The key's app.")
    alert_downstream: str | None = Field(
        description="Its downstream that receives its downstreams' alerts; null: none."
    )


class NewApp(AppChange):
    name: KeyName = Field(description="Unique among the live apps: letters, digits, `_.-`.")


class AppInfo(Answer):
    name: str
    weight: int
    max_queued: int | None
    max_per_day: int | None
    created_at: float
    keys: int = Field(description="How many live keys it has.")
    portal_frame_ancestors: list[str] = Field(
        description="The origins that may frame its portal; empty: none."
    )
    alert_downstream: str | None = Field(
        description="Its downstream that receives its downstreams' alerts; null: none."
    )


class AppList(Answer):
    apps: list[AppInfo]


class AppDeleted(Answer):
    deleted: str


class NewAppKey(Answer):
    name: KeyName = Field(description="Unique among the live keys: letters, digits, `_.-`.")
    scopes: list[Scope] = Field(min_length=1, description="What it may do; `admin`: all.")


_NO_APP = answer("No live app of that name.", _ERR)
_BAD = {
    400: answer("The body is not JSON.", _ERR),
    413: answer("The body is over 16 KiB.", _ERR),
    422: answer("A bad field; `detail` says which.", _ERR),
}
router = APIRouter(tags=["apps"])
# The key's own app, without the admin: what an app may set of itself.
own = APIRouter(tags=["apps"])


def app_info(row: AppRow) -> dict[str, Any]:
    return {
        "name": row.name,
        **asdict(row.settings),  # weight, max_queued, max_per_day
        "created_at": row.created_at,
        "keys": row.keys,
        "portal_frame_ancestors": list(row.frame_ancestors),
        "alert_downstream": row.alert_downstream,
    }


async def _body(request: Request, server: ServerConfig) -> object:
    return await read_json(request, MAX_APP_BODY_BYTES, server.body_timeout_seconds)


@router.post(
    "/v1/apps",
    **operation(
        "admin",
        "Make an app",
        "An app owns the tasks its keys make, its turns in the submit queue (`weight`) and"
        " its limits; its keys (`POST /v1/apps/{app}/keys`) are only its credentials.",
        {201: answer("Made.", AppInfo), 409: answer("A live app has this name.", _ERR), **_BAD},
        params=False,
    ),
    status_code=201,
    openapi_extra=body(NewApp, "NewApp", "The app's name, weight and limits."),
)
async def create_app(request: Request, server: ServerSection, keys: Keyring) -> Response:
    wanted = checked(NewApp, await _body(request, server))
    settings = AppSettings(wanted.weight, wanted.max_queued, wanted.max_per_day)
    return reply(AppInfo, app_info(await keys.make_app(wanted.name, settings)), 201)


@router.get(
    "/v1/apps",
    **operation(
        "admin",
        "Every live app",
        "Names, weights, limits, live keys.",
        {200: answer("The apps.", AppList)},
        params=False,
    ),
)
async def list_apps(keys: Keyring) -> Response:
    return reply(AppList, {"apps": [app_info(a) for a in await keys.apps()]})


@router.get(
    "/v1/apps/{app}",
    **operation(
        "admin",
        "One app",
        "Its weight, limits and live keys.",
        {200: answer("The app.", AppInfo), 404: _NO_APP},
    ),
)
async def show_app(keys: Keyring, app: PathName) -> Response:
    return reply(AppInfo, app_info(await keys.app(app)))


@router.patch(
    "/v1/apps/{app}",
    **operation(
        "admin",
        "Change an app",
        "The fields given replace its weight or limits (null lifts a limit); its keys hold"
        " the new ones within a second.",
        {200: answer("Changed.", AppInfo), 404: _NO_APP, **_BAD},
    ),
    openapi_extra=body(
        AppChangeAll,
        "AppChange",
        "Any of `weight`, `max_queued`, `max_per_day`, `portal_frame_ancestors`,"
        " `alert_downstream`.",
    ),
)
async def change_app(
    request: Request,
    store: Stored,
    server: ServerSection,
    keys: Keyring,
    directory: Downstreams,
    app: PathName,
) -> Response:
    payload = await _body(request, server)
    found = await keys.app(app)
    given = checked(AppChangeAll, payload)
    if "alert_downstream" in given.model_fields_set:  # checked before anything changes
        await alerts.choose(store, directory.known_in, found.id, given.alert_downstream)
    # Only the fields given change; a limit given as null is lifted.
    merged = {f: getattr(given, f) for f in given.model_fields_set if f in AppChange.model_fields}
    changed = await keys.change_app(app, replace(found.settings, **merged))
    if "portal_frame_ancestors" in given.model_fields_set:
        origins = tuple(dict.fromkeys(o.lower() for o in given.portal_frame_ancestors or []))
        changed = await app_transactions.set_framing(store, app, origins)
    if "alert_downstream" in given.model_fields_set:
        changed = await keys.app(app)
    return reply(AppInfo, app_info(changed))


@router.delete(
    "/v1/apps/{app}",
    **operation(
        "admin",
        "Delete an app",
        "Its keys are revoked (refused by every replica within a second), its open"
        " streams end and its downstreams are removed; its tasks stay as they are. Its"
        " name may be given to a new app, which does not see them.",
        {200: answer("Deleted.", AppDeleted), 404: _NO_APP},
    ),
)
async def delete_app(
    workers: Workers, changed: AccessChange, keys: Keyring, directory: Downstreams, app: PathName
) -> Response:
    deleted = await keys.delete_app(app)
    changed()  # its open streams here end now, elsewhere within seconds
    # Its downstreams go with it: no later app of its name takes them over.
    prefix = owned_name(deleted.id, "")
    for name in await downstream_transactions.owned_names(workers.store, prefix):
        await managed.remove_downstream(workers, directory, name)
    return reply(AppDeleted, {"deleted": app})


@router.post(
    "/v1/apps/{app}/keys",
    **operation(
        "admin",
        "Make a key of an app",
        "A credential of the app, holding only the scopes given; what it makes is the"
        " app's. Only a keyed hash of it is stored: the key is in this answer alone.",
        {
            201: answer("Made; `key` is shown this once.", KeyCreated),
            404: _NO_APP,
            409: answer("A live key has this name.", _ERR),
            **_BAD,
        },
    ),
    status_code=201,
    openapi_extra=body(NewAppKey, "NewAppKey", "The key's name and scopes."),
)
async def create_app_key(
    request: Request, server: ServerSection, keys: Keyring, app: PathName
) -> Response:
    wanted = checked(NewAppKey, await _body(request, server))
    row, key = await keys.add(app, wanted.name, list(wanted.scopes))
    return reply(KeyCreated, {**key_info(row), "key": key}, 201)


@router.get(
    "/v1/apps/{app}/keys",
    **operation(
        "admin",
        "An app's live keys",
        "Never a key.",
        {200: answer("Its keys.", KeyList), 404: _NO_APP},
    ),
)
async def list_app_keys(keys: Keyring, app: PathName) -> Response:
    found = await keys.app(app)
    return reply(KeyList, {"keys": await keys.listed(found.id)})


@router.delete(
    "/v1/apps/{app}/keys/{name}",
    **operation(
        "admin",
        "Revoke a key of an app",
        "Refused by every replica within a second and its streams end; the app and all"
        " it owns stay, so a new key made before this one is revoked loses nothing.",
        {200: answer("Revoked.", KeyRevoked), 404: answer("No such app or live key.", _ERR)},
    ),
)
async def revoke_app_key(
    access_changed: AccessChange, keys: Keyring, app: PathName, name: PathName
) -> Response:
    await keys.revoke(name, app)
    access_changed()
    return reply(KeyRevoked, {"revoked": name})


_NO_OWN_APP = answer("The admin token has no app: `PATCH /v1/apps/{app}` names one.", _ERR)


def _own_app(request: Request) -> tuple[str, str]:
    """The id and name of the caller's app (422 for the admin token, which has none)."""
    caller = caller_of(request)
    if caller.owner is None:
        raise InvalidRequest("the admin token has no app: PATCH /v1/apps/{app} names one")
    return caller.owner, caller.app


def _own_downstream(app: str, given: str | None) -> str | None:
    """The name the app gave the downstream: `APP/NAME` only for its own app."""
    if given is None or "/" not in given:
        return given
    owner, _, name = given.partition("/")
    if owner != app:
        raise InvalidRequest(
            f"alert_downstream: {given!r} is not app {app!r}'s: an app's alerts go to one"
            " of its own downstreams"
        )
    return name


@own.get(
    "/v1/app/alerts",
    **operation(
        "downstreams",
        "Where the key's app's alerts go",
        "The downstream of its own that receives the operator alerts about its downstreams.",
        {200: answer("Its choice.", AppAlerts), 422: _NO_OWN_APP},
        params=False,
    ),
)
async def show_app_alerts(request: Request, store: Stored) -> Response:
    app_id, app = _own_app(request)
    chosen = await alerts.chosen(store, app_id)
    return reply(AppAlerts, {"app": app, "alert_downstream": chosen})


@own.put(
    "/v1/app/alerts",
    **operation(
        "downstreams",
        "Name where the key's app's alerts go",
        "One of the app's own downstreams (by the name it gave it) receives the operator"
        " alerts about its other downstreams, beside the operator's `[alerts]` one; null:"
        " none of its own. Another app's downstream, or a global one, is refused.",
        {
            200: answer("Named.", AppAlerts),
            **_BAD,
            422: answer(
                "No downstream of the app's of that name, or the admin token (no app).", _ERR
            ),
        },
        params=False,
    ),
    openapi_extra=body(AlertChoice, "AlertChoice", "Its downstream, or null for none."),
)
async def choose_app_alerts(
    request: Request, store: Stored, server: ServerSection, directory: Downstreams
) -> Response:
    app_id, app = _own_app(request)
    given = checked(AlertChoice, await _body(request, server))
    name = _own_downstream(app, given.alert_downstream)
    await alerts.choose(store, directory.known_in, app_id, name)
    return reply(AppAlerts, {"app": app, "alert_downstream": name})
