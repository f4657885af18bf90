"""A downstream's form, in the console and an app's portal alike: its fields as the API
takes them (its options: receiver/destinations/options.py; `auth`, `tls`, proxy; filter,
transform and headers), and the live preview beside them.

No secret is written back into a page: a secret field shows empty, and left empty keeps its
secret (sent as the mask `***`, which the change keeps); headers typed replace them all,
none typed keeps them; a proxy whose password is masked is kept.

The preview (`POST /console/downstreams/preview`, asked by static/preview.js as one types)
answers JSON as `POST /v1/downstreams/preview` does, never a page; it takes a session, its
CSRF token, a same-origin request and a JSON body (which another site's form cannot send
without a preflight the console never grants).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from receiver.config.downstream import AUTH_FIELDS, MASK, SECRET_OF
from receiver.console import views
from receiver.console.core import Console, Form
from receiver.console.session import Session, check_form
from receiver.deliveries import preview as previews
from receiver.kernel.errors import InvalidRequest, MalformedRequest, NotAllowed, RelayError
from receiver.kernel.http.answers import Json, error_body
from receiver.kernel.http.body import read_json
from receiver.kernel.http.errors import answer_for
from receiver.keys.rules import BOOTSTRAP, Caller
from receiver.outbox.rules.event_types import EVENT_TYPES

MAX_PREVIEW_BYTES = 64 * 1024
MAX_HEADER_LINES = 20
# The example events the form offers; the first is the one shown before any is picked.
EXAMPLE_TYPES = ("task.succeeded", *(t for t in EVENT_TYPES if t != "task.succeeded"))
OPTION_NAMES = tuple(option.name for option in views.ENDPOINT_OPTIONS)
# A new downstream's own fields, before its options and its destination's settings.
NEW_FIELDS = ("name", "url", "format", "events", "channels", "filter", "transform")

TLS_FIELDS = ("client_cert", "client_key", "ca")
# How the API's refusal of a downstream names where it was wrong, which a form says
# beside the field itself: `body: downstream 'orders': filter is not valid CEL ...`.
_WHERE = re.compile(r"^(?:body: )?(?:downstream '[^']*': )?")
# What a refused form is given back (never a secret's value, never a PEM key).
KEPT_FIELDS = (
    "auth_type",
    "auth_username",
    "auth_token_url",
    "auth_client_id",
    "auth_scope",
    "auth_audience",
    "tls_client_cert",
    "tls_ca",
    "proxy",
)


def in_words(detail: str) -> str:
    """A refusal of a downstream's form, as its owner reads it: without the API's prefix."""
    return _WHERE.sub("", detail, count=1)


def with_events(form: Form) -> Form:
    """The form with its events' checkboxes (`event.<choice>`, beside `events_asked`) as
    the comma-separated `events` the API's field takes; a form without them as it is."""
    if "events_asked" not in form:
        return form
    checked = [c for c in views.EVENT_CHOICES if form.get(f"event.{c}")]
    return {**form, "events": ", ".join(checked)}


def _field(form: Form, name: str) -> str:
    return form.get(name, "").strip()


def auth_of(form: Form, keeping: bool = False) -> dict[str, Any] | None:
    """`auth` from `auth_type` and `auth_<field>`; None: no authentication. `keeping`: a
    change, where an empty secret keeps the one the downstream has."""
    kind = _field(form, "auth_type")
    if not kind or kind == "none":
        return None
    if kind not in AUTH_FIELDS:
        raise InvalidRequest(f"auth.type: one of none, {', '.join(AUTH_FIELDS)}")
    auth: dict[str, Any] = {"type": kind}
    # Its secret is kept only for the kind it had (the form says which it showed).
    keeps = keeping and _field(form, "auth_type_was") == kind
    for name in AUTH_FIELDS[kind]:
        value = _field(form, f"auth_{name}")
        if not value and name == SECRET_OF[kind] and keeps:
            value = MASK
        if value:
            auth[name] = value
    return auth


def tls_of(form: Form, keeping: bool = False) -> dict[str, Any] | None:
    """`tls` from `tls_client_cert`, `tls_client_key` and `tls_ca` (PEM); None: none. A
    change keeps the client key when its field is left empty beside a certificate."""
    tls = {name: form.get(f"tls_{name}", "").strip() for name in TLS_FIELDS}
    if keeping and tls["client_cert"] and not tls["client_key"]:
        tls["client_key"] = MASK
    found = {name: value for name, value in tls.items() if value}
    return found or None


def options_of(form: Form) -> dict[str, str]:
    """The options a new downstream's form gives: those left empty take their defaults."""
    given = {option.name: _field(form, option.name) for option in views.ENDPOINT_OPTIONS}
    return {name: value for name, value in given.items() if value}


def credentials(form: Form) -> dict[str, Any]:
    """`auth`, `tls` and `proxy` of a new downstream: those given."""
    given = {"auth": auth_of(form), "tls": tls_of(form), "proxy": _field(form, "proxy") or None}
    return {name: value for name, value in given.items() if value is not None}


def new_fields(form: Form, settings: tuple[str, ...] = ()) -> tuple[Form, dict[str, str]]:
    """A new downstream's form with its events' checkboxes as the API's list, and what a
    refusal shows again (`settings`: its destination's own it takes): never a secret (typed
    again), nor a header's value (it may be one)."""
    form = with_events(form)
    kept = {k: _field(form, k) for k in (*NEW_FIELDS, *settings, *OPTION_NAMES)}
    kept |= kept_fields(form)
    kept["headers_given"] = "yes" if _field(form, "headers") else ""
    return form, kept


def new_body(form: Form, kept: dict[str, str], settings: tuple[str, ...] = ()) -> dict[str, Any]:
    """A new downstream's form as `POST /v1/downstreams` takes it."""
    return {
        "name": kept["name"],
        **({"url": kept["url"]} if kept["url"] else {}),  # none: an addressless format
        "format": kept["format"] or "webhook",
        "events": views.listed(kept["events"]),
        "channels": views.listed(kept["channels"]),
        **{k: kept[k] for k in settings if kept[k]},
        **options_of(kept),  # signing, timeout, max_per_second, ...
        **expression_fields(form),  # filter, transform, headers (sealed when stored)
        **credentials(form),  # auth, tls, proxy (their secrets sealed)
    }


def change_of(form: Form) -> dict[str, Any]:
    """What an edit form changes, as `PATCH /v1/downstreams/{name}` takes it: every field it
    holds is given (an emptied one unset), but the secrets left empty and the headers when
    none are typed, which are kept; a field it does not hold is left as it is."""
    form = with_events(form)
    change: dict[str, Any] = {
        name: views.listed(form[name]) for name in ("events", "channels") if name in form
    }
    if "filter" in form:  # an edit form without the expressions changes none of them
        for name in ("filter", "transform"):
            change[name] = _field(form, name) or None
        if _field(form, "headers"):
            change["headers"] = header_lines(form["headers"])
        elif form.get("headers_clear"):
            change["headers"] = {}
    for option in views.ENDPOINT_OPTIONS:  # emptied: unset where it may be, else kept
        if option.name in form and ((value := _field(form, option.name)) or option.nullable):
            change[option.name] = value or None
    if "auth_type" in form:
        change["auth"] = auth_of(form, keeping=True)
        change["tls"] = tls_of(form, keeping=True)
        proxy = _field(form, "proxy")
        if f":{MASK}@" not in proxy:  # shown masked and left so: kept as it is
            change["proxy"] = proxy or None
    return change


def kept_fields(form: Form) -> dict[str, str]:
    """What a refused form shows again: never a secret (typed again), nor a proxy's address
    that holds a password."""
    kept = {name: _field(form, name) for name in KEPT_FIELDS}
    try:
        password = urlsplit(kept["proxy"]).password
    except ValueError:  # not an address at all: its check says so; nothing to keep
        password = kept["proxy"]
    if password:
        kept["proxy"] = ""
    return kept


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
