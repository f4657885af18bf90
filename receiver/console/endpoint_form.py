"""A downstream's form fields as the API takes them, in the console and an app's portal
alike: its options (receiver/destinations/options.py), `auth`, `tls`, proxy, and filter,
transform and headers.

No secret is written back into a page: a secret field shows empty, and left empty keeps its
secret (sent as the mask `***`, which the change keeps); headers typed replace them all,
none typed keeps them; a proxy whose password is masked is kept.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from receiver.config.downstream import AUTH_FIELDS, MASK, SECRET_OF
from receiver.console import views
from receiver.console.preview import expression_fields, header_lines
from receiver.kernel.errors import InvalidRequest

Form = dict[str, str]
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
