"""The API keys' routes: made (the key shown in that answer only), listed, revoked."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from receiver.app.api.models import Answer, ErrorAnswer, InPath, NoParams, Params
from receiver.app.api.openapi import Body, Doc, Operation, Reply, admin_op, reply
from receiver.kernel.config import problems
from receiver.kernel.errors import InvalidRequest
from receiver.kernel.http.body import read_json
from receiver.kernel.service import Service
from receiver.keys.bearers import keys_of
from receiver.keys.rows.keys import KeyRow
from receiver.keys.rules.access import Scope
from receiver.keys.rules.limits import KeyLimits

MAX_KEY_BODY_BYTES = 16 * 1024
KeyName = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]


class NewKey(Answer):
    name: KeyName = Field(description="Unique among the live keys: letters, digits, `_.-`.")
    scopes: list[Scope] = Field(min_length=1, description="What it may do; `admin`: all.")
    # Strict: a JSON integer, not "3", true or 2.0 read as one.
    weight: int = Field(
        1,
        strict=True,
        ge=1,
        le=100,
        description="Its share of the submit queue's turns: this many of its waiting tasks"
        " go to CometAPI for each one of a key of weight 1.",
    )
    max_queued: int | None = Field(
        None,
        strict=True,
        ge=1,
        le=1_000_000,
        description="At most this many of its tasks not ended at once (waiting in the submit"
        " queue, being sent, or running at CometAPI); one more is refused with 429 and"
        " `Retry-After`. Unset: no limit.",
    )
    max_per_day: int | None = Field(
        None,
        strict=True,
        ge=1,
        le=10_000_000,
        description="At most this many tasks made in any 24 hours (a rolling window); one more"
        " is refused with 429 and `Retry-After` until the oldest leaves it. Unset: no limit.",
    )


class KeyInfo(Answer):
    name: str
    scopes: list[Scope]
    weight: int
    max_queued: int | None = Field(description="Its tasks not ended at once; null: no limit.")
    max_per_day: int | None = Field(description="Its tasks in any 24 hours; null: no limit.")
    created_at: float
    last_used_at: float | None = Field(
        description="When it was last let in (written at most once a minute)."
    )


class KeyCreated(KeyInfo):
    key: str = Field(description="The key, `rr_...`: shown in this answer only, never again.")


class KeyList(Answer):
    keys: list[KeyInfo]


class KeyRevoked(Answer):
    revoked: str


class KeyNameParams(Params):
    name: Annotated[str, InPath()] = Field(max_length=64)


def key_info(row: KeyRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "scopes": row.scopes,
        "weight": row.weight,
        "max_queued": row.max_queued,
        "max_per_day": row.max_per_day,
        "created_at": row.created_at,
        "last_used_at": row.last_used_at,
    }


_NEW_KEY = TypeAdapter(NewKey)


async def make_key(service: Service, payload: object) -> tuple[dict[str, Any], str]:
    """Make the key `payload` asks for, through the API or the console: what `GET /v1/keys`
    shows of it, and the key itself (InvalidRequest naming every bad field)."""
    if not isinstance(payload, dict):
        raise InvalidRequest("body must be a JSON object")
    try:
        wanted = NewKey.model_validate(payload)
    except ValidationError as exc:
        raise InvalidRequest("; ".join(problems(exc, "body"))) from None
    limits = KeyLimits(wanted.max_queued, wanted.max_per_day)
    row, key = await keys_of(service).create(
        wanted.name, list(wanted.scopes), wanted.weight, limits
    )
    return key_info(row), key


async def create_key(request: Request, service: Service, params: NoParams) -> Response:
    timeout = service.config.settings.server.body_timeout_seconds
    info, key = await make_key(service, await read_json(request, MAX_KEY_BODY_BYTES, timeout))
    return reply(KeyCreated, {**info, "key": key}, 201)


async def list_keys(request: Request, service: Service, params: NoParams) -> Response:
    return reply(KeyList, {"keys": [key_info(r) for r in await keys_of(service).listed()]})


async def revoke_key(request: Request, service: Service, params: KeyNameParams) -> Response:
    await keys_of(service).revoke(params.name)
    service.access_changed()  # its open streams here end now, elsewhere within seconds
    return reply(KeyRevoked, {"revoked": params.name})


OPERATIONS: tuple[Operation, ...] = (
    admin_op(
        "/v1/keys",
        "POST",
        create_key,
        NoParams,
        Doc(
            "keys",
            "Make an API key",
            "A key for an app, holding only the scopes given: `tasks:submit`, `tasks:read`,"
            " `tasks:cancel`, `downstreams`, `admin`. A key without `admin` sees only the tasks"
            " it made. Only a keyed hash of it is stored: the key is in this answer and nowhere"
            " else. Its optional limits, `max_queued` and `max_per_day`, refuse a submit past"
            " them (429 with `Retry-After`) at `POST /v1/tasks` and at the `/runwayml` door.",
            (
                Reply(201, "Made; `key` is shown this once.", KeyCreated),
                Reply(400, "The body is not JSON.", ErrorAnswer),
                Reply(409, "A live key has this name.", ErrorAnswer),
                Reply(413, "The body is over 16 KiB.", ErrorAnswer),
                Reply(422, "A bad name or scope; `detail` says which.", ErrorAnswer),
            ),
        ),
        Body(_NEW_KEY, "NewKey", "The key's name and scopes."),
        scope="admin",
    ),
    admin_op(
        "/v1/keys",
        "GET",
        list_keys,
        NoParams,
        Doc(
            "keys",
            "Every live API key",
            "Names, scopes, limits, when made and last used; never a key.",
            (Reply(200, "The keys.", KeyList),),
        ),
        scope="admin",
    ),
    admin_op(
        "/v1/keys/{name}",
        "DELETE",
        revoke_key,
        KeyNameParams,
        Doc(
            "keys",
            "Revoke an API key",
            "Refused (401) by every replica within a second; the share links it made stop"
            " opening. Its tasks stay as they are.",
            (
                Reply(200, "Revoked.", KeyRevoked),
                Reply(404, "No live key of that name.", ErrorAnswer),
            ),
        ),
        scope="admin",
    ),
)
