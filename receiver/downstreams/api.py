"""Downstreams: their health, and those made through the API; their routes and the models
they answer through (rotate, disable, enable, test: deliveries/downstream_api.py).

An app's key sees and changes only its app's downstreams, by the names it gave them (another
app's, or a global one, is no such downstream); the admin sees every one, an app's as
`APP/NAME`, with its app."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, create_model
from pydantic.fields import FieldInfo
from starlette.responses import Response

from receiver.config import SHOWN_SETTINGS, DownstreamChange, ManagedDownstreamConfig
from receiver.config.sections import ServerConfig
from receiver.downstreams import listing
from receiver.downstreams import manage as managed
from receiver.downstreams.directory import Directory
from receiver.downstreams.rules import MEANINGS, Health
from receiver.kernel.errors import NotFound
from receiver.kernel.http.body import read_json
from receiver.kernel.http.models import Answer, BreakerState, ErrorAnswer, Params
from receiver.kernel.http.openapi import PathId, answer, body, reply
from receiver.keys.bearers import Keys
from receiver.keys.guard import Keyring, caller_of, operation
from receiver.keys.rules import Caller
from receiver.outbox.rules.delivery import UNNAMED_APP, DownstreamLabels, owner_of, shown_name
from receiver.wiring.dependencies import DeliverySection, ServerSection, Stored, Workers, on_app

MAX_BODY_BYTES = 64 * 1024
_ERR = ErrorAnswer
NO_DOWNSTREAM = answer("No downstream of that name.", _ERR)
FROM_CONFIG = answer("It comes from the config file: change it there.", _ERR)
_BAD_BODY = {
    400: answer("The body is not JSON.", _ERR),
    413: answer("The body is over 64 KiB.", _ERR),
    422: answer("A setting breaks a rule; `detail` names every field.", _ERR),
}


def _as_shown(setting: FieldInfo) -> Any:
    """A setting as an answer shows it: its type and words; required, as an answer always
    carries it, unless it may be unset."""
    kind = (
        Annotated[(setting.annotation, *setting.metadata)]
        if setting.metadata
        else setting.annotation
    )
    return (kind, Field(None if setting.default is None else ..., description=setting.description))


# A downstream's settings as the config file and the API take them, shown as they are.
_Settings: type[BaseModel] = create_model(
    "DownstreamSettings",
    **{name: _as_shown(ManagedDownstreamConfig.model_fields[name]) for name in SHOWN_SETTINGS},
)


class DownstreamHealth(Answer):
    name: str
    disabled: bool
    disabled_at: float | None
    disabled_reason: str | None
    failing_since: float | None = Field(description="Every attempt since then has failed.")
    breaker: BreakerState = Field(
        description="Its circuit breaker, as this replica last reported it (`closed`: deliveries"
        " go out; a `pull` downstream has none and stays `closed`)."
    )
    breaker_changed_at: float | None
    deliveries: dict[str, int] = Field(description="How many deliveries are in each state.")
    dead_since_success: int = Field(
        description="Dead letters since its last delivery that went through."
    )
    health: Health | None = Field(
        description="How it fares, read from what its deliveries came to: "
        + "; ".join(f"`{word}`: {meaning}" for word, meaning in MEANINGS.items())
        + ". Unset for a `pull` downstream with events to read: the relay cannot tell"
        " whether they are read. Its breaker's own state is `breaker`."
    )
    filter_failures: int = Field(
        description="Events its filter failed on at run time (a field the event lacks, a"
        " wrong type, too costly on it): each was not delivered (`filtered`). A filter"
        " that answered false is no failure."
    )
    filter_failure: str | None = Field(description="The last failure's reason.")
    filter_failed_at: float | None = Field(description="When its filter last failed.")


class DownstreamDetail(DownstreamHealth, _Settings):  # type: ignore[misc, valid-type]
    """What a downstream is and how it fares; never its secret."""

    source: Literal["config", "api"] = Field(
        description="`config`: the operator's file (read-only here); `api`: made through it."
    )
    app: str | None = Field(
        None,
        description="The app it belongs to, whose tasks alone it takes (unset: global, every"
        " task's); shown to the admin, whose `name` for it is `APP/NAME`.",
    )
    url: str = Field(description="A chat URL (a credential) shows only its origin.")
    signed: bool = Field(description="Its deliveries carry Standard Webhooks signatures.")
    public_key: str | None = Field(
        None,
        description="Signed with ed25519 (`v1a`): the `whpk_` key its signatures are verified"
        " with (not a secret).",
    )
    key_id: str | None = Field(
        None,
        description="With `signing: rfc9421`: its key's id, the `keyid` of its signatures and"
        " the `kid` of its key in its app's /.well-known/jwks/{app}.json (the operator's own"
        " downstreams': /.well-known/jwks.json).",
    )
    headers: dict[str, str] = Field(
        {}, description="The headers sent with each delivery, their values masked (`***`)."
    )
    auth: dict[str, str] | None = Field(
        None,
        description="How it authenticates to the endpoint (`basic`, `bearer`, `oauth2`), its"
        " secret (`password`, `token`, `client_secret`) masked (`***`; sent back as `***`"
        " in a change, it is kept).",
    )
    tls: dict[str, str] | None = Field(
        None,
        description="Its TLS client certificate and CA (PEM), `client_key` masked (`***`;"
        " sent back as `***` in a change, it is kept).",
    )
    proxy: str | None = Field(
        None,
        description="Its own HTTP proxy (a password in it masked), in place of `delivery.proxy`.",
    )
    created_at: float | None = None
    changed_at: float | None = None
    previous_secret_until: float | None = Field(
        None, description="While set, deliveries carry the old secret's signature too."
    )
    unusable: str | None = Field(
        None,
        description="Made through the API, its secret or URL was sealed under a key this relay"
        " no longer has: why. Its deliveries are still made, held, until the key is back"
        " (`callbacks.previous_secret_envs`) or its secret is rotated (and its URL given"
        " again, if that is what does not open).",
    )


class DownstreamCreated(DownstreamDetail):
    secret: str | None = Field(
        description="Its `whsec_` signing secret, shown this once only; null with `signing:"
        " ed25519` or `rfc9421`, whose private key never leaves the relay: verify with"
        " `public_key` (and `key_id`, at its app's /.well-known/jwks/{app}.json)."
    )


class Removed(Answer):
    downstream: str
    removed: Literal[True]
    deliveries_ended: int = Field(description="Deliveries that waited, now dead letters.")


class DownstreamList(Answer):
    downstreams: list[DownstreamDetail] = Field(description="By name.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page (opaque); null: this is the last."
    )


class ListParams(Params):
    limit: int = Field(
        listing.LIMIT_MAX,
        description=f"At most this many, from 1 to {listing.LIMIT_MAX}.",
        json_schema_extra={"minimum": 1, "maximum": listing.LIMIT_MAX},
    )
    cursor: str | None = Field(None, description="The `next_cursor` of the previous page.")


# A route's downstreams: every one, the config file's and those made through the API (the
# process's one directory, put on the application at start-up: receiver/app/parts.py).
Downstreams = Annotated[Directory, Depends(on_app("directory", Directory))]
router = APIRouter(tags=["downstreams"])


async def _payload(request: Request, server: ServerConfig) -> Any:
    return await read_json(request, MAX_BODY_BYTES, server.body_timeout_seconds)


async def _seen(keys: Keys, caller: Caller, shown: dict[str, Any]) -> dict[str, Any]:
    (seen,) = await _seen_all(keys, caller, [shown])
    return seen


async def _seen_all(
    keys: Keys, caller: Caller, shown: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Downstreams as the caller knows them: an app's by their own names; the admin's as
    `APP/NAME` (the name its routes take), with their app."""
    if not caller.sees_all:
        return [{**each, "name": shown_name(each["name"])} for each in shown]
    owners = sorted({owner for each in shown if (owner := owner_of(each["name"]))})
    apps = await keys.app_names(owners) if owners else {}
    labels = DownstreamLabels(apps)
    return [
        {**each, "name": labels(kept), "app": apps.get(owner, UNNAMED_APP)}
        if (owner := owner_of(kept := each["name"]))
        else each
        for each in shown
    ]


async def own_name(request: Request, directory: Directory, name: str) -> str:
    """The name the caller's downstream is kept under; 404 (by the name the caller gave)
    when there is none of its own."""
    caller = caller_of(request)
    # The admin names an app's as APP/NAME (its path's slash encoded or not), as the CLI
    # and the console do; its kept name `<app id>.NAME` is still taken.
    kept = managed.kept_name(caller, await directory.kept_of(name) if caller.sees_all else name)
    if not managed.sees(caller, kept) or not await directory.knows(kept):
        raise NotFound(f"no downstream named {name!r}")
    return kept


@router.get(
    "/v1/downstreams",
    **operation(
        "downstreams",
        "The downstreams, a page at a time, with their health",
        "The config file's and those made through the API, by name, a page at a time (pass"
        " `next_cursor` as `cursor` for the next): settings (never a secret), health in one"
        " word (`health`), breaker state, disabled or not (since when, why), failing since,"
        " deliveries by state. An app's key lists its own; the admin every one, an app's as"
        " `APP/NAME`.",
        {
            200: answer("A page of downstreams.", DownstreamList),
            422: answer("`limit` is out of range, or `cursor` is not this list's.", _ERR),
        },
    ),
)
async def list_downstreams(
    request: Request,
    store: Stored,
    keys: Keyring,
    directory: Downstreams,
    params: Annotated[ListParams, Query()],
) -> Response:
    caller = caller_of(request)
    limit, at = listing.checked_limit(params.limit), listing.position_of(params.cursor)
    page = await listing.read_page(store, directory, caller.owner_filter, at, limit)
    shown = listing.described(directory, page, time.time())
    listed = await _seen_all(keys, caller, shown)
    cursor = None if page.next is None else listing.cursor_of(page.next)
    return reply(DownstreamList, {"downstreams": listed, "next_cursor": cursor})


@router.post(
    "/v1/downstreams",
    **operation(
        "downstreams",
        "Make a downstream",
        "In use on every replica within a tick, and kept across restarts. Its signing secret"
        " is made here and stored sealed: a `whsec_` one is shown in this answer only; of an"
        " ed25519 or rfc9421 key, only its public key is ever shown. A URL must reach a"
        " public address (unless `delivery.allow_private_networks`), also after DNS at"
        " connect time.",
        {
            201: answer("Made; a `whsec_` `secret` is shown this once.", DownstreamCreated),
            409: answer("The name is taken (by the config file or the API).", _ERR),
            **_BAD_BODY,
        },
        params=False,
    ),
    status_code=201,
    openapi_extra=body(
        ManagedDownstreamConfig,
        "DownstreamSettings",
        "The settings of a `[[downstream]]` in the config file, with `url` given here.",
    ),
)
async def create_downstream(
    request: Request,
    workers: Workers,
    rules: DeliverySection,
    server: ServerSection,
    keys: Keyring,
    directory: Downstreams,
) -> Response:
    caller = caller_of(request)
    payload = await _payload(request, server)
    made = managed.create_downstream(workers, rules, keys, directory, payload, caller)
    shown, secret = await made
    seen = await _seen(keys, caller, shown)
    return reply(DownstreamCreated, {**seen, "secret": secret}, 201)


# The routes under /v1/downstreams/{name}: after /v1/downstreams/preview (catalog.py).
one = APIRouter(tags=["downstreams"])


@one.get(
    "/v1/downstreams/{name:downstream}",
    **operation(
        "downstreams",
        "One downstream",
        "Its settings (never its secret) and health.",
        {200: answer("The downstream.", DownstreamDetail), 404: NO_DOWNSTREAM},
    ),
)
async def get_downstream(
    request: Request, store: Stored, keys: Keyring, directory: Downstreams, name: PathId
) -> Response:
    kept = await own_name(request, directory, name)
    shown = await managed.describe_downstream(store, directory, kept)
    return reply(DownstreamDetail, await _seen(keys, caller_of(request), shown))


@one.patch(
    "/v1/downstreams/{name:downstream}",
    **operation(
        "downstreams",
        "Change a downstream made through the API",
        "The fields given replace its settings (the name stays); the whole is checked again.",
        {
            200: answer("Changed.", DownstreamDetail),
            404: NO_DOWNSTREAM,
            409: FROM_CONFIG,
            **_BAD_BODY,
        },
    ),
    openapi_extra=body(
        DownstreamChange, "DownstreamChange", "Any settings of `DownstreamSettings` but `name`."
    ),
)
async def change_downstream(
    request: Request,
    workers: Workers,
    rules: DeliverySection,
    server: ServerSection,
    keys: Keyring,
    directory: Downstreams,
    name: PathId,
) -> Response:
    kept = await own_name(request, directory, name)
    payload = await _payload(request, server)
    caller = caller_of(request)
    shown = await managed.change_downstream(workers, rules, directory, kept, payload, caller)
    return reply(DownstreamDetail, await _seen(keys, caller_of(request), shown))


@one.delete(
    "/v1/downstreams/{name:downstream}",
    **operation(
        "downstreams",
        "Remove a downstream made through the API",
        "At once, on every replica within a tick: what it still had to deliver ends as dead"
        " letters, with the reason.",
        {200: answer("Removed.", Removed), 404: NO_DOWNSTREAM, 409: FROM_CONFIG},
    ),
)
async def remove_downstream(
    request: Request, workers: Workers, directory: Downstreams, name: PathId
) -> Response:
    kept = await own_name(request, directory, name)
    ended = await managed.remove_downstream(workers, directory, kept)
    return reply(Removed, {"downstream": name, "removed": True, "deliveries_ended": ended})
