"""A downstream's filter, transform and headers on the console's form, and the live preview
beside them (`POST /console/downstreams/preview`, asked by static/preview.js as the operator
types). It answers JSON as `POST /v1/downstreams/preview` does, never a page; it takes a
session, its CSRF token, a same-origin request and a JSON body (which another site's form
cannot send without a preflight the console never grants).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from receiver.console.core import Console
from receiver.console.session import Session, check_form
from receiver.deliveries import preview as previews
from receiver.deliveries.rules.event_types import EVENT_TYPES
from receiver.kernel.errors import InvalidRequest, MalformedRequest, NotAllowed, RelayError
from receiver.kernel.http.answers import Json, error_body
from receiver.kernel.http.body import read_json
from receiver.kernel.http.errors import answer_for
from receiver.keys.rules import BOOTSTRAP, Caller

MAX_PREVIEW_BYTES = 64 * 1024
MAX_HEADER_LINES = 20
# The example events the form offers; the first is the one shown before any is picked.
EXAMPLE_TYPES = ("task.succeeded", *(t for t in EVENT_TYPES if t != "task.succeeded"))


def header_lines(text: str) -> dict[str, str]:
    """`Name: value`, one a line (blank lines skipped), as the API's `headers` map. A
    refusal names the line by its number only: a value may be a secret."""
    headers: dict[str, str] = {}
    lines = [line.strip() for line in text.splitlines()]
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise InvalidRequest(f"headers: line {number} is not written `Name: value`")
        if name.strip().lower() in (known.lower() for known in headers):
            raise InvalidRequest(f"headers: {name.strip()} is given twice")
        headers[name.strip()] = value.strip()
    if len(headers) > MAX_HEADER_LINES:
        raise InvalidRequest(f"headers: at most {MAX_HEADER_LINES}")
    return headers


def expression_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The form's `filter`, `transform` and `headers` as the API's body takes them: an
    empty field is left out, as if never given."""
    out: dict[str, Any] = {}
    for name in ("filter", "transform"):
        value = fields.get(name)
        if isinstance(value, str) and value.strip():
            out[name] = value.strip()
    headers = fields.get("headers")
    if isinstance(headers, str) and headers.strip():
        out["headers"] = header_lines(headers)
    return out


def preview_payload(fields: dict[str, Any]) -> dict[str, Any]:
    """What the form holds, as `POST /v1/downstreams/preview` takes it: the format, and a
    task's newest event when a task id is given, an example of the type picked, else (no
    type picked) a real event: the downstream's newest, or the newest task's."""
    payload = expression_fields(fields)
    for name in ("format", "signing"):
        if isinstance(chosen := fields.get(name), str) and chosen:
            payload[name] = chosen
    task_id = fields.get("task_id")
    if isinstance(task_id, str) and task_id.strip():
        payload["task_id"] = task_id.strip()
    elif isinstance(fields.get("type"), str) and fields["type"]:
        payload["type"] = fields["type"]
    # The downstream being changed: its newest event is the one tried by default.
    downstream = fields.get("downstream")
    if isinstance(downstream, str) and downstream:
        payload["downstream"] = downstream
    return payload


class PreviewRoute:
    def __init__(self, console: Console) -> None:
        self.console = console

    async def answer(self, request: Request) -> Response:
        try:
            return Json(await self._preview(request))
        except RelayError as exc:
            status, code = answer_for(exc)
            return Json(error_body(code, exc.detail), status_code=status)

    async def _preview(self, request: Request) -> dict[str, Any]:
        console = self.console
        session = await console.session_of(request)
        if session is None:
            raise NotAllowed(console.no_session(request))
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise MalformedRequest("expected a JSON body (application/json)")
        timeout = console.server.body_timeout_seconds
        fields = await read_json(request, MAX_PREVIEW_BYTES, timeout)
        if not isinstance(fields, dict):
            raise MalformedRequest("body must be a JSON object")
        check_form(console.sessions, session.id, fields, request.headers, console.origins(request))
        payload = preview_payload(fields)
        # The preview reads a task only as this caller may read it (another app's: none).
        return await previews.preview(console.store, payload, self.caller(session))

    def caller(self, session: Session) -> Caller:
        """Who previews: the operator, who reads every task."""
        return BOOTSTRAP
