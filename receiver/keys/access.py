"""Who a request comes from (its bearer token), and whether that covers what it asks."""

from __future__ import annotations

from starlette.requests import Request

from receiver.kernel.errors import NotAllowed, NotAuthenticated
from receiver.kernel.service import Service
from receiver.keys.bearers import keys_of
from receiver.keys.rules.access import Caller, Scope


def bearer(request: Request) -> str:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else ""


async def authorize(request: Request, service: Service, scope: Scope) -> Caller:
    """The caller, kept on the request for the handler; 401 when no one, 403 without `scope`."""
    caller = await keys_of(service).caller(bearer(request))
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
