"""Who a request comes from (its bearer token), whether that covers what it asks, and what
every route of the API shares on FastAPI: who may pass (a scope, as a security dependency
the document shows), the refusals every guarded operation can give, a request body
described in the document but read by the relay's own reader (receiver/kernel/http/body.py:
its size, depth, NUL and 64-bit rules), and an answer made through its model."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, Path, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from pydantic import BaseModel, TypeAdapter

from receiver.kernel.errors import MalformedRequest, NotAllowed, NotAuthenticated
from receiver.kernel.http.answer import as_answer
from receiver.kernel.http.answers import Json
from receiver.kernel.http.models import TEXT, ErrorAnswer
from receiver.keys.bearers import Keyring, Keys
from receiver.keys.rules import Caller, Scope
from receiver.wiring.service import Service


def bearer(request: Request) -> str:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else ""


async def authorize(request: Request, keys: Keys, scope: Scope) -> Caller:
    """The caller, kept on the request for the handler; 401 when no one, 403 without `scope`."""
    caller = await keys.caller(bearer(request))
    if caller is None:
        raise NotAuthenticated("missing or wrong API key or admin token")
    if not caller.allows(scope):
        raise NotAllowed(f"this key lacks the scope {scope!r}")
    request.state.caller = caller
    return caller


def caller_of(request: Request) -> Caller:
    """The caller `authorize` let through."""
    caller = request.state.caller
    assert isinstance(caller, Caller)
    return caller


A = TypeVar("A", bound=BaseModel)
REF = "#/components/schemas/{model}"

_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="admin",
    description="An API key (`rr_...`, made with `POST /v1/keys`), or the value of"
    " $RECEIVER_ADMIN_TOKEN, which holds every scope. Each operation names the scope it needs.",
)


async def _caller(
    request: Request,
    wanted: SecurityScopes,
    keys: Keyring,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> Caller:
    """The caller, when its key holds the scope the route asks (401, 403 otherwise)."""
    return await authorize(request, keys, cast(Scope, wanted.scopes[-1]))


def needs(scope: Scope) -> Any:
    """The route's guard: a bearer token holding `scope` (or `admin`)."""
    return Security(_caller, scopes=[scope])


async def service_of(request: Request) -> Service:
    # A coroutine, as every dependency here: FastAPI runs a plain function in a worker
    # thread, a hop per request that cost a front-door create about a tenth of its CPU.
    service: Service = request.app.state.service
    return service


Served = Annotated[Service, Depends(service_of)]
# A path's id, as the stores take text: no NUL (PostgreSQL refuses it).
PathId = Annotated[str, Path(min_length=1, max_length=200, pattern=TEXT)]
PathName = Annotated[str, Path(max_length=64)]
# A signed route's token: checked by its signer, not here.
Token = Annotated[str, Path(description="Signed by the relay; expires.")]

# The header of a 429 for an API key's limits, at either door.
LIMIT_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds until a place frees (for `max_queued`, a guess).",
        "schema": {"type": "string"},
    }
}

_NOTES = {
    "admin": "Needs an API key holding the scope `{scope}` (or `admin`), or the admin token:"
    " `Authorization: Bearer rr_...`. Without the scope: 403.",
    "signed": "No header: the signed token in the path is the authorization (403 when it is"
    " forged, tampered with or expired).",
    "none": "Open: no authorization.",
}


def described(text: str, scope: Scope | None = None, auth: str = "admin") -> str:
    """An operation's description, with how it is authorized."""
    return f"{text}\n\n{_NOTES[auth].format(scope=scope)}"


# The models the routes answer through, for the document's components. Named here rather
# than as FastAPI's `model`: FastAPI would make a validator of each (some 400 of them, a
# fifth of the relay's start-up) that answers already built through their models never use.
ANSWERS: set[type[BaseModel]] = set()


def answer(description: str, model: type[BaseModel] | None = None, **more: Any) -> dict[str, Any]:
    """One documented answer, JSON through `model` (`more`: `content`, `headers`)."""
    if model is None:
        return {"description": description, **more}
    ANSWERS.add(model)
    schema = {"$ref": REF.format(model=model.__name__)}
    return {"description": description, "content": {"application/json": {"schema": schema}}, **more}


def media(description: str, *types: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """A documented answer that is not JSON."""
    return answer(description, content={t: {"schema": schema or {"type": "string"}} for t in types})


def guarded(
    scope: Scope,
    answers: dict[int, dict[str, Any]],
    refusal: type[BaseModel] = ErrorAnswer,
    params: bool = True,
) -> dict[int | str, dict[str, Any]]:
    """The answers of an operation behind a bearer token: its own, and the refusals every
    such operation can give (a wrong parameter, no key, the scope lacking, no store)."""
    found: dict[int, dict[str, Any]] = dict(answers)
    if params:
        found.setdefault(400, answer("A parameter is wrong; `detail` says which.", refusal))
    found.setdefault(401, answer("No key, or a wrong or revoked one.", refusal))
    found.setdefault(403, answer(f"The key lacks the scope `{scope}`.", refusal))
    found.setdefault(503, answer("The store cannot be reached.", refusal))
    return {status: found[status] for status in sorted(found)}


# The bodies the routes read themselves, by name, for the document's components.
BODIES: dict[str, TypeAdapter[Any]] = {}


def body(shape: Any, name: str, description: str) -> dict[str, Any]:
    """A route's `openapi_extra`: its JSON body, described by `shape` under `name`."""
    BODIES[name] = shape if isinstance(shape, TypeAdapter) else TypeAdapter(shape)
    schema = {"$ref": REF.format(model=name)}
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    }


def reply(model: type[A], data: Any, status: int = 200) -> Json:
    """An answer built through its model (a dict, or a record read by its attributes): a
    field the model does not know fails here."""
    return Json(as_answer(model, data), status_code=status)


def malformed(exc: RequestValidationError) -> MalformedRequest:
    """FastAPI's refusal of a parameter, in the relay's words: `<name>: <why>`, never the
    value given (it may hold a secret)."""
    found = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"][1:]) or "parameters"
        cause = err.get("ctx", {}).get("error")
        why = str(cause) if err["type"] == "value_error" and cause is not None else err["msg"]
        found.append(f"{where}: {why}")
    return MalformedRequest("; ".join(found))
