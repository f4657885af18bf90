"""Routes described once: each `Operation` becomes a Starlette route and an OpenAPI operation.

The document is built from the operations' own pydantic models (parameters, request body,
answers), so it says what the handlers check and answer. An admin operation's endpoint is
made here too: the bearer check, then its parameters read through its `Params` model.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast

from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, request_response
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as AsgiScope

from receiver.app.api.models import ErrorAnswer, InHeader, InPath, NoParams, Params
from receiver.kernel.config import problems
from receiver.kernel.errors import MalformedRequest, RelayError
from receiver.kernel.http.answers import Json
from receiver.kernel.service import Service
from receiver.keys.access import authorize
from receiver.keys.rules.access import Scope

Auth = Literal["admin", "signed", "none"]
Handler = Callable[[Request], Awaitable[Response]]
Endpoint = Handler | ASGIApp
P = TypeVar("P", bound=Params)
A = TypeVar("A", bound=BaseModel)
_REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Reply:
    """One documented answer. JSON when `model` is set; else `media_types` with `schema`."""

    status: int
    description: str
    model: type[BaseModel] | None = None
    media_types: tuple[str, ...] = ()
    schema: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # name: description


# The header of a 429 for an API key's limits, at either door.
LIMIT_RETRY_AFTER = {"Retry-After": "Seconds until a place frees (for `max_queued`, a guess)."}


@dataclass(frozen=True)
class Body:
    adapter: TypeAdapter[Any]
    name: str  # its name under components/schemas
    description: str


@dataclass(frozen=True)
class Operation:
    path: str
    methods: tuple[str, ...]
    endpoint: Endpoint
    tag: str
    summary: str
    description: str
    auth: Auth
    replies: tuple[Reply, ...]
    params: type[Params] = NoParams
    body: Body | None = None
    # The shape of the refusals every operation of its kind can give (400, 401, 503).
    refusal: type[BaseModel] = ErrorAnswer
    # What a key must hold to be let through (`auth` "admin": a bearer token); None for
    # the signed and open routes.
    scope: Scope | None = None

    def route(self) -> Route:
        return Route(self.path, self.endpoint, methods=list(self.methods))

    def app(self) -> ASGIApp:
        if inspect.isfunction(self.endpoint):  # a handler of requests, as Route tells them
            return request_response(cast(Handler, self.endpoint))
        return cast(ASGIApp, self.endpoint)


class _ByMethod:
    """The operations of one path, each method answered by its own (an ASGI app: Route
    takes a plain function for a request handler)."""

    def __init__(self, apps: dict[str, ASGIApp]) -> None:
        self.apps = apps

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        await self.apps[scope["method"]](scope, receive, send)


def by_method(operations: Sequence[Operation]) -> Route:
    """One route for the operations of one path: a 405 names all their methods in Allow."""
    apps = {method: op.app() for op in operations for method in op.methods}
    if "GET" in apps:
        apps.setdefault("HEAD", apps["GET"])  # as Starlette does for a GET route
    return Route(operations[0].path, _ByMethod(apps), methods=list(apps))


def reply(model: type[A], data: dict[str, Any], status: int = 200) -> Json:
    """An answer built through its model: a field the model does not know fails here."""
    return Json(
        model.model_validate(data).model_dump(mode="json", exclude_unset=True),
        status_code=status,
    )


def read_params(request: Request, model: type[P]) -> P:
    """A request's path, query and header parameters, checked by `model`; 400 if wrong."""
    raw: dict[str, str] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if _marked(info.metadata, InPath):
            value = request.path_params.get(name)
        elif _marked(info.metadata, InHeader):
            value = request.headers.get(key)
        else:
            value = request.query_params.get(key)
        if value is not None:
            raw[key] = value
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise MalformedRequest("; ".join(problems(exc, "parameters"))) from None


def _marked(metadata: Iterable[object], marker: type) -> bool:
    return any(isinstance(m, marker) for m in metadata)


AdminHandler = Callable[[Request, Service, P], Awaitable[Response]]


@dataclass(frozen=True)
class Doc:
    """What the document says of an operation: its group, what it does, its answers."""

    tag: str
    summary: str
    description: str
    replies: tuple[Reply, ...]


@dataclass(frozen=True)
class Door:
    """The operations behind one door, and how they refuse: the model the document names,
    and the answer made of an error there (None: the edge's one map,
    receiver/kernel/http/errors.py).
    """

    refusal: type[BaseModel] = ErrorAnswer
    answer: Callable[[RelayError], Response] | None = None

    def op(
        self,
        path: str,
        method: str,
        handler: AdminHandler[P],
        params: type[P],
        doc: Doc,
        body: Body | None = None,
        *,
        scope: Scope,
    ) -> Operation:
        """An operation behind a bearer token that must hold `scope`: its endpoint reads the
        parameters through the model that the document describes them by."""
        endpoint = _guarded(handler, params, scope, self.answer)
        return Operation(
            path,
            (method,),
            endpoint,
            doc.tag,
            doc.summary,
            doc.description,
            "admin",
            doc.replies,
            params,
            body,
            refusal=self.refusal,
            scope=scope,
        )


admin_op = Door().op


def _guarded(
    handler: AdminHandler[P],
    params: type[P],
    scope: Scope,
    refuse: Callable[[RelayError], Response] | None,
) -> Handler:
    """Who asks first, then what they ask; a refusal in the door's own shape if it has one."""

    async def guarded(request: Request) -> Response:
        service: Service = request.app.state.service
        try:
            await authorize(request, service, scope)
            return await handler(request, service, read_params(request, params))
        except RelayError as exc:
            if refuse is None:
                raise
            return refuse(exc)

    guarded.__name__ = handler.__name__
    return guarded


_AUTH_NOTE = {
    "admin": "Needs an API key holding the scope `{scope}` (or `admin`), or the admin token:"
    " `Authorization: Bearer rr_...`. Without the scope: 403.",
    "signed": "No header: the signed token in the path is the authorization (403 when it is"
    " forged, tampered with or expired).",
    "none": "Open: no authorization.",
}


def document(operations: Sequence[Operation], version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `operations`."""
    answers = {r.model for op in operations for r in _replies(op) if r.model is not None}
    inputs: list[tuple[str, Any, TypeAdapter[Any]]] = [
        (m.__name__, "serialization", TypeAdapter(m))
        for m in sorted(answers, key=lambda m: m.__name__)
    ]
    bodies = {op.body.name: op.body for op in operations if op.body is not None}
    inputs += [(name, "validation", body.adapter) for name, body in sorted(bodies.items())]
    found, top = TypeAdapter.json_schemas(inputs, ref_template=_REF)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    for (name, _), schema in found.items():
        if schema.get("$ref") != _REF.format(model=name):
            schemas[name] = schema  # not a model of its own (the submit union)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        for method in op.methods:
            paths.setdefault(op.path, {})[method.lower()] = _operation(op, method)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "runway-relay",
            "version": version,
            "description": "Submit Runway tasks through CometAPI, receive their callbacks, fan"
            " the results out to downstreams. Times are epoch seconds.",
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "admin": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key (`rr_...`, made with `POST /v1/keys`), or the"
                    " value of $RECEIVER_ADMIN_TOKEN, which holds every scope. Each"
                    " operation names the scope it needs.",
                }
            },
        },
    }


def _replies(op: Operation) -> list[Reply]:
    """Its own answers, and the refusals every operation of its kind can give."""
    replies = {r.status: r for r in op.replies}
    if op.auth == "admin":
        # An admin operation's parameters are read through its model (`admin` below).
        if op.params.model_fields:
            wrong = "A parameter is wrong; `detail` says which."
            replies.setdefault(400, Reply(400, wrong, op.refusal))
        replies.setdefault(401, Reply(401, "No key, or a wrong or revoked one.", op.refusal))
        replies.setdefault(403, Reply(403, f"The key lacks the scope `{op.scope}`.", op.refusal))
        replies.setdefault(503, Reply(503, "The store cannot be reached.", op.refusal))
    return [replies[status] for status in sorted(replies)]


def _operation(op: Operation, method: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "tags": [op.tag],
        "summary": op.summary,
        "description": f"{op.description}\n\n{_AUTH_NOTE[op.auth].format(scope=op.scope)}",
        "operationId": f"{method.lower()}_{_slug(op.path)}",
        "security": [{"admin": [op.scope]}] if op.auth == "admin" else [],
        "responses": {str(r.status): _response(r, method) for r in _replies(op)},
    }
    parameters = _parameters(op.params)
    if parameters:
        spec["parameters"] = parameters
    if op.body is not None:
        spec["requestBody"] = {
            "required": True,
            "description": op.body.description,
            "content": {"application/json": {"schema": {"$ref": _REF.format(model=op.body.name)}}},
        }
    return spec


def _slug(path: str) -> str:
    parts = [p.strip("{}") for p in path.strip("/").split("/")]
    return "_".join(p.replace(".", "_") for p in parts) or "root"


def _response(reply: Reply, method: str) -> dict[str, Any]:
    out: dict[str, Any] = {"description": reply.description}
    if reply.headers:
        out["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in reply.headers.items()
        }
    if method == "HEAD":
        return out  # the headers of the GET, no body
    if reply.model is not None:
        out["content"] = {
            "application/json": {"schema": {"$ref": _REF.format(model=reply.model.__name__)}}
        }
    elif reply.media_types:
        out["content"] = {t: {"schema": reply.schema} for t in reply.media_types}
    return out


def _parameters(model: type[Params]) -> list[dict[str, Any]]:
    properties = model.model_json_schema(ref_template=_REF)["properties"]
    out = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        where = (
            "path"
            if _marked(info.metadata, InPath)
            else "header"
            if _marked(info.metadata, InHeader)
            else "query"
        )
        schema = dict(properties[key])
        schema.pop("title", None)
        description = schema.pop("description", None)
        if schema.get("default", 0) is None:
            del schema["default"]
        # Absent is how a parameter says "none": `null` is not a value a URL can carry.
        options = [s for s in schema.pop("anyOf", []) if s != {"type": "null"}]
        if len(options) == 1:
            schema.update(options[0])
        elif options:
            schema["anyOf"] = options
        param: dict[str, Any] = {"name": key, "in": where, "schema": schema}
        if where == "path" or info.is_required():
            param["required"] = True
        if description:
            param["description"] = description
        out.append(param)
    return out
