"""Who a request comes from (its bearer token), whether that covers what it asks, a route's
guard on FastAPI (a scope, as a security dependency the document shows), and a guarded
route declared once from its scope. What else every route shares for the document is the
kernel's (receiver/kernel/http/openapi.py)."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict, cast

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from pydantic import BaseModel

from receiver.kernel.errors import NotAllowed, NotAuthenticated
from receiver.kernel.http.models import ErrorAnswer
from receiver.kernel.http.openapi import described, guarded
from receiver.keys.bearers import Keys
from receiver.keys.rules import Caller, Scope
from receiver.wiring.dependencies import on_app

# The process's one cache of the API keys, put on the application at start-up
# (receiver/app/parts.py), and who a bearer token is.
keys_of = on_app("keys", Keys)
Keyring = Annotated[Keys, Depends(keys_of)]


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


class Operation(TypedDict):
    """What a route's decorator takes: `@router.get(path, **operation(...))`."""

    summary: str
    description: str
    dependencies: list[Any]
    responses: dict[int | str, dict[str, Any]]


def operation(
    scope: Scope,
    summary: str,
    text: str,
    answers: dict[int, dict[str, Any]],
    *,
    params: bool = True,
    guard: bool = True,
    refusal: type[BaseModel] = ErrorAnswer,
) -> Operation:
    """A route behind a bearer token holding `scope`, the scope named once: its description
    saying so, its guard (`guard=False` where a parameter of the handler holds it, giving
    the caller), and its answers with the refusals every such route gives (`params`: a 400
    for a wrong parameter too; `refusal`: their model)."""
    return Operation(
        summary=summary,
        description=described(text, scope),
        dependencies=[needs(scope)] if guard else [],
        responses=guarded(scope, answers, refusal, params),
    )
