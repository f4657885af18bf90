"""Errors become answers here, in one place: each class of receiver/kernel/errors.py has its HTTP
status and machine-readable code, found along the class's ancestry (the nearest wins); and
FastAPI's refusal of a parameter becomes the relay's own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from receiver.kernel.errors import (
    BodyTooLarge,
    BodyTooSlow,
    ConfigError,
    Conflict,
    InvalidRequest,
    LimitReached,
    MalformedRequest,
    NotAllowed,
    NotAuthenticated,
    NotFound,
    Overloaded,
    RelayError,
    StoreError,
    UpstreamError,
    UpstreamTimeout,
    WorkerDown,
)

if TYPE_CHECKING:
    from fastapi.exceptions import RequestValidationError

_ANSWERS: dict[type[RelayError], tuple[int, str]] = {
    MalformedRequest: (400, "bad_request"),
    NotAuthenticated: (401, "unauthorized"),
    NotAllowed: (403, "forbidden"),
    NotFound: (404, "not_found"),
    BodyTooSlow: (408, "request_timeout"),
    Conflict: (409, "conflict"),
    BodyTooLarge: (413, "too_large"),
    InvalidRequest: (422, "invalid_request"),
    LimitReached: (429, "limit_reached"),
    ConfigError: (500, "internal"),
    UpstreamError: (502, "upstream_error"),
    StoreError: (503, "unavailable"),
    Overloaded: (503, "overloaded"),
    WorkerDown: (503, "unavailable"),
    UpstreamTimeout: (504, "upstream_error"),
}


def headers_for(exc: RelayError) -> dict[str, str] | None:
    """The headers its answer carries besides the body: how to authenticate, when to retry."""
    if isinstance(exc, NotAuthenticated):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, (LimitReached, Overloaded)):
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, BodyTooLarge) and exc.rest_unread:
        # The rest of the body was not read: the connection cannot carry another request.
        return {"Connection": "close"}
    return None


def answer_for(exc: RelayError) -> tuple[int, str]:
    """The HTTP status and error code that answer `exc`."""
    for cls in type(exc).__mro__:
        if cls in _ANSWERS:
            return _ANSWERS[cls]
    return 500, "internal"


def problem_of(err: Mapping[str, Any], whole: str, skip: int) -> str:
    """One error pydantic found, as `<where>: <why>` (`whole` where it is the whole input;
    the first `skip` parts of its location left out): our validators' words unprefixed,
    never the value given (it may hold a secret)."""
    where = ".".join(str(p) for p in err["loc"][skip:]) or whole
    cause = err.get("ctx", {}).get("error")
    why = str(cause) if err["type"] == "value_error" and cause is not None else err["msg"]
    return f"{where}: {why}"


def malformed(exc: RequestValidationError) -> MalformedRequest:
    """FastAPI's refusal of a parameter, in the relay's words."""
    return MalformedRequest("; ".join(problem_of(err, "parameters", 1) for err in exc.errors()))
