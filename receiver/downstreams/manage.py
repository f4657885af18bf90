"""Downstreams made through the API: create, change, rotate the secret of, remove, and how any
downstream is described. Whichever door the operator comes in by (the admin API, the
console, the command line), each action is here once."""

from __future__ import annotations

import re
import time
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ValidationError

from receiver.config import (
    SHOWN_SETTINGS,
    Downstream,
    DownstreamChange,
    ManagedDownstreamConfig,
    problems,
    timeout_problem,
)
from receiver.config.downstream import MASK, SECRET_OF, SENT_TO, credentials_masked
from receiver.config.expression_fields import vet_expressions
from receiver.config.sections import DeliveryConfig
from receiver.downstreams import transactions
from receiver.downstreams.directory import REMOVED, Directory, Found, Held
from receiver.downstreams.rows import ManagedRow
from receiver.expressions.lines import OPERATOR
from receiver.kernel.errors import Conflict, InvalidRequest, NotFound
from receiver.kernel.extras import install_command
from receiver.kernel.net.guard import check_api_url
from receiver.kernel.secrets.message_signatures import shown_key_id
from receiver.kernel.secrets.sealing import (
    SEALED,
    Unsealable,
    open_url,
    seal_url,
)
from receiver.kernel.secrets.signing import new_secret, public_key, shown_once
from receiver.kernel.store import Store
from receiver.keys.bearers import Keys
from receiver.keys.rules import Caller
from receiver.outbox.rules.delivery import (
    NAME_MAX,
    TASK_WEBHOOK,
    looks_owned,
    owned_name,
    owner_of,
)
from receiver.wiring.worker_parts import WorkerParts

M = TypeVar("M", bound=BaseModel)


def read_checked(model: type[M], payload: Any) -> M:
    if not isinstance(payload, dict):
        raise InvalidRequest("body must be a JSON object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise InvalidRequest("; ".join(problems(exc, "body"))) from None


def _checked(rules: DeliveryConfig, spec: Any) -> ManagedDownstreamConfig:
    """Settings that pass the same rules as the config file's, with a URL from the API:
    public addresses only, unless the operator allows private ones."""
    settings = read_checked(ManagedDownstreamConfig, spec)
    if (extra := settings.missing_extra()) is not None:
        raise InvalidRequest(
            f"format: {settings.format} needs the relay installed with its extra:"
            f" {install_command(extra)}"
        )
    lease = rules.attempt_lease_seconds
    if (problem := timeout_problem(settings.timeout, lease)) is not None:
        raise InvalidRequest(f"timeout: {problem}")
    allow = rules.allow_private_networks
    for setting, url in settings.addresses().servers:
        check_api_url(url, setting, allow)
    # The relay connects to these too: judged as the downstream's own URL is.
    if settings.proxy is not None:
        check_api_url(settings.proxy, "proxy", allow)
    if settings.auth is not None and (sent_to := SENT_TO.get(settings.auth.type)):
        check_api_url(getattr(settings.auth, sent_to), f"auth.{sent_to}", allow)
    return settings


def _spec(settings: ManagedDownstreamConfig) -> dict[str, Any]:
    return settings.model_dump(exclude={"name"}, exclude_none=True)


def _managed_name(directory: Directory, name: str) -> str:
    """A name the API may change: not the config file's, nor the tasks' webhooks'."""
    if name in directory.configured:
        raise Conflict(
            f"{name!r} comes from the config file: change or remove it there (the API"
            " manages only the downstreams it made)"
        )
    if name == TASK_WEBHOOK:
        raise Conflict(f"{TASK_WEBHOOK!r} is the name of the tasks' own webhooks")
    return name


def kept_name(caller: Caller, name: str) -> str:
    """The name the caller's downstream `name` is kept under: an app's own (so another
    app's, or a global one, is no such downstream), or as given for the admin."""
    return name if caller.sees_all else owned_name(caller.app_id or "", name)


def sees(caller: Caller, kept: str) -> bool:
    """Whether the caller may see or change that downstream: the admin any, an app its own."""
    return caller.sees_all or (caller.app_id is not None and owner_of(kept) == caller.app_id)


async def _owner(keys: Keys, caller: Caller, payload: Any) -> tuple[str | None, Any]:
    """The app a new downstream is for, and the payload without `owner`: an app's key makes
    its app's; the admin a global one, or an app's named by `owner`."""
    if not isinstance(payload, dict) or "owner" not in payload:
        return (None if caller.sees_all else caller.app_id), payload
    rest = {k: v for k, v in payload.items() if k != "owner"}
    if not caller.sees_all:
        raise InvalidRequest("owner: only the admin names the app a downstream is for")
    if not isinstance(payload["owner"], str):
        raise InvalidRequest("owner: the name of an app")
    try:
        return (await keys.app(payload["owner"])).id, rest
    except NotFound:
        raise InvalidRequest(f"owner: no app named {payload['owner']!r}") from None


def _allowed_target(
    rules: DeliveryConfig, caller: Caller, settings: ManagedDownstreamConfig
) -> None:
    """An app's key names only the AWS and broker targets the operator allows it (422);
    the admin's and the config file's are not checked."""
    if caller.sees_all:
        return
    patterns = [*rules.allowed_targets, *rules.allowed_targets_by_app.get(caller.app, [])]
    if (address := settings.unallowed_target(patterns)) is not None:
        raise InvalidRequest(
            f"url: an app's key names only the targets the operator allows, and {address}"
            " matches no pattern of delivery.allowed_targets or"
            f" delivery.allowed_targets_by_app.{caller.app or '<app>'}"
        )


async def _changed(parts: WorkerParts, directory: Directory) -> None:
    """In use in this process at once; the other replicas follow within a tick."""
    await directory.refresh()
    parts.wakers.wake_deliveries()


def new_keys(signing: str, secret: str) -> dict[str, str | None]:
    """What an answer shows of a secret just made: a `whsec_` secret, this once; of a
    `whsk_` key its public key and, with rfc9421, its key id, never the key itself."""
    return {
        "secret": shown_once(secret),
        "public_key": public_key(secret),
        "key_id": shown_key_id(signing, secret),
    }


async def create_downstream(
    parts: WorkerParts,
    rules: DeliveryConfig,
    keys: Keys,
    directory: Directory,
    payload: Any,
    caller: Caller,
) -> tuple[dict[str, Any], str | None]:
    """A new downstream and its `whsec_` secret (shown this once; None for an ed25519 or
    rfc9421 key): the app's when the caller is an app's key (or the admin names one in
    `owner`), else global."""
    owner, payload = await _owner(keys, caller, payload)
    settings = _checked(rules, payload)
    await vet_expressions(settings, caller.owner or OPERATOR)
    _allowed_target(rules, caller, settings)
    if owner is None:
        if looks_owned(settings.name):
            raise InvalidRequest("name: `<app id>.` begins only the names of apps' downstreams")
        name = _managed_name(directory, settings.name)
    else:
        if settings.name == TASK_WEBHOOK:  # its app's tasks' own webhooks' lane
            raise Conflict(f"{TASK_WEBHOOK!r} is the name of the app's tasks' own webhooks")
        name = owned_name(owner, settings.name)
        if len(name) > NAME_MAX:
            short = NAME_MAX - len(name) + len(settings.name)
            raise InvalidRequest(f"name: an app's downstream has at most {short} characters")
        if await directory.knows(name):  # its row, through the primary key
            raise Conflict(f"a downstream named {settings.name!r} exists")
    secret = new_secret(settings.signing)
    sealer = directory.sealer
    sealed = sealer.seal(secret, name), sealer.current_key
    await transactions.create(parts.store, name, seal_url(sealer, _spec(settings), name), sealed)
    await _changed(parts, directory)
    parts.log.info("downstream.created", downstream=name, format=settings.format)
    return await describe_downstream(parts.store, directory, name), shown_once(secret)


async def change_downstream(
    parts: WorkerParts,
    rules: DeliveryConfig,
    directory: Directory,
    name: str,
    payload: Any,
    by: Caller | None = None,
) -> dict[str, Any]:
    """`by`: an app's key, whose new target must be one the operator allows; None: a door
    that changes no target (an app's portal) or the operator's."""
    _managed_name(directory, name)
    change = read_checked(DownstreamChange, payload).model_dump(exclude_unset=True)
    row = await transactions.one_made(parts.store, name)
    sealer = directory.sealer
    try:
        spec = open_url(sealer, row.spec, name)
    except Unsealable:
        if "url" in change:  # given again: the one that does not open is not needed
            # The headers' values and the credentials were sealed under the same key: gone
            # with it.
            spec = {k: v for k, v in row.spec.items() if k not in SEALED}
        else:
            raise Conflict(
                f"{name!r} was sealed under a key this relay no longer has: give its URL"
                " again in the change, or put the previous secret back"
            ) from None
    settings = _checked(rules, {**spec, **_kept_secrets(spec, change), "name": name})
    if change.keys() & {"filter", "transform"}:  # those kept were checked when given
        await vet_expressions(settings, owner_of(name) or OPERATOR)  # its app's line
    if by is not None:
        _allowed_target(rules, by, settings)
    await transactions.change(parts.store, name, seal_url(sealer, _spec(settings), name))
    await _changed(parts, directory)
    parts.log.info("downstream.changed", downstream=name, fields=sorted(change))
    return await describe_downstream(parts.store, directory, name)


def _kept_secrets(spec: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """The change, where it gives a secret back as shown (`***`, as a form round-trips it):
    the secret kept, so that a change of a scope or a CA needs no secret again."""
    auth, before = change.get("auth"), spec.get("auth")
    if isinstance(auth, dict) and isinstance(before, dict) and auth["type"] == before["type"]:
        field = SECRET_OF[auth["type"]]
        if auth.get(field) == MASK:
            # A client secret kept would go to whatever token endpoint the change names: a
            # caller who cannot read it must not be able to send it elsewhere.
            sent_to = SENT_TO.get(auth["type"])
            if sent_to and auth.get(sent_to, before.get(sent_to)) != before.get(sent_to):
                raise InvalidRequest(f"auth.{field}: give it again to send it to a new {sent_to}")
            change = {**change, "auth": {**auth, field: before[field]}}
    tls, before = change.get("tls"), spec.get("tls")
    if isinstance(tls, dict) and tls.get("client_key") == MASK and isinstance(before, dict):
        change = {**change, "tls": {**tls, "client_key": before.get("client_key")}}
    return change


async def rotate_secret(
    parts: WorkerParts, rules: DeliveryConfig, directory: Directory, name: str
) -> tuple[dict[str, str | None], float]:
    """A new secret of the kind its `signing` asks (a change of `signing` takes effect
    here), as an answer shows it (`new_keys`); the old one signs beside it until the
    overlap ends (returned)."""
    _managed_name(directory, name)
    row = await transactions.one_made(parts.store, name)
    sealer = directory.sealer
    signing = row.spec.get("signing", "hmac")
    secret = new_secret(signing)
    overlap = rules.rotation_overlap_seconds
    try:
        sealer.open(row.sealed_secret, name)
        previous: str | None = row.sealed_secret
    except Unsealable:
        previous = None  # its key is gone: nothing to keep signing with
    await transactions.rotate(parts.store, name, sealer.seal(secret, name), previous, overlap)
    await _changed(parts, directory)
    rotated = await transactions.one_made(parts.store, name)
    parts.log.info("downstream.secret_rotated", downstream=name, overlap_seconds=overlap)
    return new_keys(signing, secret), rotated.previous_until or rotated.changed_at


async def remove_downstream(parts: WorkerParts, directory: Directory, name: str) -> int:
    """Gone at once: what it still had to deliver ends as dead letters; how many."""
    _managed_name(directory, name)
    ended = await transactions.remove(parts.store, name, REMOVED)
    await _changed(parts, directory)
    parts.log.warning("downstream.removed", downstream=name, deliveries_ended=ended)
    return ended


# Query parameters that carry a credential in the brokers' URLs (Redis' `password`, NATS'
# `token`, and the like): their values are never shown.
_CREDENTIAL_PARAM = re.compile(r"pass|pwd|token|secret|auth|key|cred|sig", re.IGNORECASE)


def shown_url(d: Downstream) -> str:
    """The URL as the API may show it: a chat webhook's URL is its credential (only its
    origin is shown); of a broker URL, the password, a user part standing alone (NATS reads
    it as a token) and every credential in the query are masked."""
    parts = urlsplit(d.url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if "," in (servers := parts.netloc.rpartition("@")[2]):
        host = servers  # a list of brokers (h1:9092,h2:9092), each with its port
    elif parts.port:
        host = f"{host}:{parts.port}"
    if d.url_is_secret:
        return f"{parts.scheme}://{host}/…"
    if parts.password is not None:
        host = f"{parts.username or ''}:{MASK}@{host}"
    elif parts.username is not None:
        host = f"{MASK}@{host}"
    query = urlencode(
        [
            (key, MASK if _CREDENTIAL_PARAM.search(key) else value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


def masked(headers: dict[str, str]) -> dict[str, str]:
    """Headers as any answer, page or log shows them: the names, never a value."""
    return dict.fromkeys(headers, MASK)


def describe(d: Downstream, row: ManagedRow | None, now: float) -> dict[str, Any]:
    """What a downstream is, never its secret."""
    out: dict[str, Any] = {
        "name": d.name,
        "source": "api" if d.managed else "config",
        "url": shown_url(d),
        **d.model_dump(include=set(SHOWN_SETTINGS), exclude_none=True),
        "events": sorted(d.events),
        "signed": bool(d.secret),
        "public_key": public_key(d.secret) if d.secret else None,
        "key_id": shown_key_id(d.signing, d.secret),
        "headers": masked(d.headers),
        **credentials_masked(d),
    }
    return _made(out, row, now)


def describe_unusable(
    settings: ManagedDownstreamConfig, reason: str, row: ManagedRow | None, now: float
) -> dict[str, Any]:
    """A downstream made through the API whose secret or URL does not open: its settings
    but the URL, and why its deliveries wait."""
    out: dict[str, Any] = {
        "name": settings.name,
        "source": "api",
        "url": "(sealed under a key this relay does not have)",
        **settings.model_dump(include=set(SHOWN_SETTINGS), exclude_none=True),
        "events": sorted(settings.events),
        "headers": masked(settings.headers),
        **credentials_masked(settings),
        "signed": True,
        "unusable": reason,
    }
    return _made(out, row, now)


def describe_any(found: Found, row: ManagedRow | None, now: float) -> dict[str, Any]:
    """`describe` or `describe_unusable`, whichever the downstream is."""
    if isinstance(found, Held):
        return describe_unusable(found.settings, found.reason, row, now)
    return describe(found, row, now)


def _made(out: dict[str, Any], row: ManagedRow | None, now: float) -> dict[str, Any]:
    if row is not None:
        out["created_at"] = row.created_at
        out["changed_at"] = row.changed_at
        rotating = row.previous_until is not None and now < row.previous_until
        out["previous_secret_until"] = row.previous_until if rotating else None
    return out


async def describe_downstream(store: Store, directory: Directory, name: str) -> dict[str, Any]:
    """One downstream, config or API, with its health."""
    found = await directory.find(name)
    if found is None:
        raise NotFound(f"no downstream named {name!r}")
    row, health = await transactions.with_health(store, name)
    return {**directory.summary(health), **describe_any(found, row, time.time())}
