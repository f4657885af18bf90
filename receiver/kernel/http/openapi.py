"""What every route of the API shares on FastAPI, for its OpenAPI document: how an operation
is authorized (in its description), its answers and the refusals every guarded operation
can give, a request body described in the document but read by the relay's own reader
(receiver/kernel/http/body.py: its size, depth, NUL and 64-bit rules), the path parameters,
and an answer made through its model. Who may pass is the keys' (receiver/keys/guard.py)."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Path
from pydantic import BaseModel, TypeAdapter
from starlette.convertors import StringConvertor, register_url_convertor

from receiver.kernel.http.answers import Json
from receiver.kernel.http.models import TEXT, ErrorAnswer, as_answer

A = TypeVar("A", bound=BaseModel)
REF = "#/components/schemas/{model}"

# A path's id, as the stores take text: no NUL (PostgreSQL refuses it).
PathId = Annotated[str, Path(min_length=1, max_length=200, pattern=TEXT)]
PathName = Annotated[str, Path(max_length=64)]


class _DownstreamName(StringConvertor):
    """A downstream's name in a path: an app's as `APP/NAME` too (its slash encoded or not,
    Starlette decodes both alike), so one segment or two, any character but NUL (a `path`
    convertor's `.*` would leave out a newline, which then ends the match)."""

    regex = "[^\x00]+"


register_url_convertor("downstream", _DownstreamName())
# A signed route's token: checked by its signer, not here.
Token = Annotated[str, Path(description="Signed by the relay; expires.")]

# The header of a 429 for an API key's limits, at either door.
LIMIT_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds until a place frees (for `max_queued`, a guess).",
        "schema": {"type": "string"},
    }
}

# The header of a 429 for the bound on the calls to downstreams that requests wait on.
CALLS_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds until a call in flight gives up at the latest, or the key's"
        " rate lets one more.",
        "schema": {"type": "string"},
    }
}
# That 429 itself.
CALLS_LIMITED = (
    "The app has `server.request_calls_per_app` calls to its downstreams in flight, the key"
    " asked `request_calls_per_key_per_second` this second, or the relay waits on"
    " `request_calls_in_all`; `limit` says which."
)

_NOTES = {
    "admin": "Needs an API key holding the scope `{scope}` (or `admin`), or the admin token:"
    " `Authorization: Bearer rr_...`. Without the scope: 403.",
    "signed": "No header: the signed token in the path is the authorization (403 when it is"
    " forged, tampered with or expired).",
    "none": "Open: no authorization.",
}


def described(text: str, scope: str | None = None, auth: str = "admin") -> str:
    """An operation's description, with how it is authorized (`scope`: an API key's)."""
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
    scope: str,
    answers: dict[int, dict[str, Any]],
    refusal: type[BaseModel] = ErrorAnswer,
    params: bool = True,
) -> dict[int | str, dict[str, Any]]:
    """The answers of an operation behind a bearer token holding `scope`: its own, and the
    refusals every such operation can give (a wrong parameter, no key, the scope lacking,
    no store)."""
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
