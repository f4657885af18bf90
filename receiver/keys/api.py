"""The API keys: made (the key shown in that answer only), listed, revoked; their routes and
models."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Request
from pydantic import Field, ValidationError
from starlette.responses import Response

from receiver.config import problems
from receiver.kernel.errors import InvalidRequest
from receiver.kernel.http.body import read_json
from receiver.kernel.http.models import Answer, ErrorAnswer
from receiver.kernel.http.openapi import PathName, answer, body, reply
from receiver.keys.bearers import Keys
from receiver.keys.guard import Keyring, operation
from receiver.keys.rows.keys import KeyRow
from receiver.keys.rules import KeyLimits, Scope
from receiver.wiring.dependencies import AccessChange, ServerSection

MAX_KEY_BODY_BYTES = 16 * 1024
Model = TypeVar("Model", bound=Answer)
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
    app: str = Field(
        description="The app it is a credential of: its limits and weight are the app's."
    )
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


def key_info(row: KeyRow) -> dict[str, Any]:
    """What `GET /v1/keys` shows of a key (the console's table too): read off its row."""
    return KeyInfo.model_validate(row, from_attributes=True).model_dump()


def checked(model: type[Model], payload: object, where: str = "body") -> Model:
    """`payload` as `model` reads it; InvalidRequest naming each bad field of `where`."""
    if not isinstance(payload, dict):
        raise InvalidRequest(f"{where} must be a JSON object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise InvalidRequest("; ".join(problems(exc, where))) from None


async def make_key(keys: Keys, payload: object) -> tuple[dict[str, Any], str]:
    """Make the key `payload` asks for, through the API or the console: what `GET /v1/keys`
    shows of it, and the key itself (InvalidRequest naming every bad field)."""
    wanted = checked(NewKey, payload)
    limits = KeyLimits(wanted.max_queued, wanted.max_per_day)
    row, key = await keys.create(wanted.name, list(wanted.scopes), wanted.weight, limits)
    return key_info(row), key


router = APIRouter(tags=["keys"])


@router.post(
    "/v1/keys",
    **operation(
        "admin",
        "Make an API key",
        "A key for an app, holding only the scopes given: `tasks:submit`, `tasks:read`,"
        " `tasks:cancel`, `downstreams`, `admin`. A key without `admin` sees only the tasks"
        " it made. Only a keyed hash of it is stored: the key is in this answer and nowhere"
        " else. Its optional limits, `max_queued` and `max_per_day`, refuse a submit past"
        " them (429 with `Retry-After`) at `POST /v1/tasks` and at the `/runwayml` door.",
        {
            201: answer("Made; `key` is shown this once.", KeyCreated),
            400: answer("The body is not JSON.", ErrorAnswer),
            409: answer("A live key has this name.", ErrorAnswer),
            413: answer("The body is over 16 KiB.", ErrorAnswer),
            422: answer("A bad name or scope; `detail` says which.", ErrorAnswer),
        },
        params=False,
    ),
    status_code=201,
    openapi_extra=body(NewKey, "NewKey", "The key's name and scopes."),
)
async def create_key(request: Request, server: ServerSection, keys: Keyring) -> Response:
    timeout = server.body_timeout_seconds
    info, key = await make_key(keys, await read_json(request, MAX_KEY_BODY_BYTES, timeout))
    return reply(KeyCreated, {**info, "key": key}, 201)


@router.get(
    "/v1/keys",
    **operation(
        "admin",
        "Every live API key",
        "Names, scopes, limits, when made and last used; never a key.",
        {200: answer("The keys.", KeyList)},
        params=False,
    ),
)
async def list_keys(keys: Keyring) -> Response:
    return reply(KeyList, {"keys": await keys.listed()})


@router.delete(
    "/v1/keys/{name}",
    **operation(
        "admin",
        "Revoke an API key",
        "Refused (401) by every replica within a second; the share links it made stop"
        " opening. Its tasks stay as they are.",
        {
            200: answer("Revoked.", KeyRevoked),
            404: answer("No live key of that name.", ErrorAnswer),
        },
    ),
)
async def revoke_key(access_changed: AccessChange, keys: Keyring, name: PathName) -> Response:
    await keys.revoke(name)
    access_changed()  # its open streams here end now, elsewhere within seconds
    return reply(KeyRevoked, {"revoked": name})
