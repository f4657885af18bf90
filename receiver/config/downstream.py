"""A downstream's settings: one model for the config file's `[[downstreams]]` and for
the ones made through the API (address, format, events, channels, filter, transform and
headers), each checked before it is kept."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal, Self, cast, get_args
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from receiver.config.expression_fields import DownstreamExpressions
from receiver.config.sections import CHANNEL, Section
from receiver.destinations import registry
from receiver.destinations.cloudevents import Envelope
from receiver.destinations.options import OPTION, Option, offered
from receiver.destinations.provider import Addresses
from receiver.destinations.registry import DestinationFormat, PublishedSettings, StoredSettings
from receiver.expressions.rules import Shaped
from receiver.kernel.extras import require
from receiver.kernel.net.credentials import ClientCredentials, basic_authorization, tls_problem
from receiver.kernel.net.headers import header_problem
from receiver.kernel.secrets.signing import Signing
from receiver.lifecycle.rules.task import TERMINAL_STATES, State
from receiver.outbox.rules.delivery import DeliveryJob

# Dots only inside, one at a time: never `.` or `..`, which paths and subjects read.
NAME_PATTERN = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"
_NAME = re.compile(NAME_PATTERN)
NAME_RULE = (
    "a name holds letters, digits, `-` and `_`, with single dots between its parts (e.g."
    " crm, eu.crm-2), at most 64 characters"
)


class DownstreamAddress(BaseModel):
    """Where a downstream is: its name, its destination (`format`) and that one's address."""

    # Checked in words below; the pattern stays in the schema for the tools that read it.
    name: Annotated[
        str, Field(min_length=1, max_length=64, json_schema_extra={"pattern": NAME_PATTERN})
    ]
    format: DestinationFormat = "webhook"
    url: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _addressless(cls, data: Any) -> Any:
        """A downstream read by its app, never sent to: its `url` is its format's own."""
        if not isinstance(data, dict) or data.get("url") is not None:
            return data
        url = registry.default_url(str(data.get("format")))
        return data if url is None else {**data, "url": url}

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(NAME_RULE)
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        fmt = info.data.get("format")
        return value if value is None or fmt is None else registry.check_url(fmt, value)

    # What the rest of the relay asks of a downstream's destination, asked of the downstream.
    def checked_url(self, url: str) -> str:
        """`url` when it is an address of its format (one read from the environment);
        else ValueError saying why."""
        return registry.check_url(self.format, url)

    @property
    def credential_in_url(self) -> bool:
        """Its URL is itself its credential (a chat webhook's)."""
        return registry.secret_url(self.format)

    def masked_url(self, mask: str) -> str | None:
        """Its URL with its whole path masked when the path is a credential; None: shown as
        any URL is."""
        return registry.masked_url(self.format, self.url or "", mask)


_Secret = Annotated[str, Field(min_length=1, max_length=4096)]
_Text = Annotated[str, Field(min_length=1, max_length=1024)]
# A certificate chain of a few certificates; three fit in an API body (64 KiB).
_Pem = Annotated[str, Field(min_length=1, max_length=16 * 1024)]
MASK = "***"
_Positive = Annotated[float, Field(gt=0)]


class BasicAuth(Section):
    """HTTP Basic: `Authorization: Basic <base64 of username:password>`."""

    type: Literal["basic"]
    username: _Text
    password: _Secret


class BearerAuth(Section):
    """A fixed token: `Authorization: Bearer <token>`."""

    type: Literal["bearer"]
    token: _Secret


class OAuth2Auth(Section):
    """An access token fetched with client credentials from `token_url`, kept until shortly
    before it expires and fetched again once on a 401: `Authorization: Bearer <token>`."""

    type: Literal["oauth2"]
    token_url: Annotated[str, Field(pattern=r"^https?://[^\s]+$", max_length=2048)]
    client_id: _Text
    client_secret: _Secret
    scope: _Text | None = None
    audience: _Text | None = None

    def credentials(self) -> ClientCredentials:
        """What its token endpoint is asked with."""
        return ClientCredentials(**self.model_dump(exclude={"type"}))


EndpointAuth = Annotated[BasicAuth | BearerAuth | OAuth2Auth, Field(discriminator="type")]
_AUTH: TypeAdapter[BasicAuth | BearerAuth | OAuth2Auth] = TypeAdapter(EndpointAuth)
# The one secret of each kind of `auth`, and the TLS client key: sealed, never shown.
SECRET_OF = {"basic": "password", "bearer": "token", "oauth2": "client_secret"}
_AUTHS = {
    get_args(m.model_fields["type"].annotation)[0]: m for m in (BasicAuth, BearerAuth, OAuth2Auth)
}
# Each kind of `auth`: its fields in their order (its secret among them), and those it needs,
# as the forms and the command line give them.
AUTH_FIELDS = {kind: tuple(f for f in m.model_fields if f != "type") for kind, m in _AUTHS.items()}
AUTH_NEEDS = {
    kind: tuple(f for f in AUTH_FIELDS[kind] if m.model_fields[f].is_required())
    for kind, m in _AUTHS.items()
}
# The field of an `auth` naming where its secret is sent (OAuth2's token endpoint): an
# address the relay connects to, which a secret kept must not follow to a new one.
SENT_TO = {"oauth2": "token_url"}


class ClientTls(Section):
    """TLS towards the endpoint (PEM): a client certificate and its key for mutual TLS,
    and `ca`, a private CA trusted alone in place of the public ones."""

    client_cert: _Pem | None = None
    client_key: _Pem | None = None
    ca: _Pem | None = None

    @model_validator(mode="after")
    def _loads(self) -> Self:
        if self.client_key == MASK:  # a change keeping the key it has (downstreams/manage.py)
            return self
        if problem := tls_problem(self.client_cert, self.client_key, self.ca):
            raise ValueError(problem)
        return self


def endpoint_auth(d: Any) -> BasicAuth | BearerAuth | OAuth2Auth | None:
    """A downstream's `auth` as its model (a running downstream keeps its settings dumped)."""
    value = getattr(d, "auth", None)
    return None if value is None else _AUTH.validate_python(value)


def client_tls_of(d: Any) -> ClientTls | None:
    """A downstream's `tls` as its model."""
    value = getattr(d, "tls", None)
    return None if value is None else ClientTls.model_validate(value)


def credentials_masked(d: Any) -> dict[str, Any]:
    """`auth` and `tls` as an answer or `config show` shows them: their secret masked, and
    `proxy` with its password masked."""
    shown: dict[str, Any] = {}
    if (auth := endpoint_auth(d)) is not None:
        shown["auth"] = auth.model_dump(exclude_none=True) | {SECRET_OF[auth.type]: MASK}
    if (tls := client_tls_of(d)) is not None:
        dumped = tls.model_dump(exclude_none=True)
        shown["tls"] = dumped | ({"client_key": MASK} if tls.client_key else {})
    if proxy := getattr(d, "proxy", None):
        parts = urlsplit(proxy)
        if parts.password is not None:
            proxy = proxy.replace(f":{parts.password}@", f":{MASK}@", 1)
        shown["proxy"] = proxy
    return shown


def read_by_pull(fmt: str) -> bool:
    """Whether a downstream of format `fmt` is read by its app at the pull endpoint: known
    from a row's format alone, none of its seals opened."""
    return registry.read_by_pull(fmt)


def credential_values(d: Any) -> list[str]:
    """The secrets of a downstream's `auth` and `tls`: never in a log line."""
    auth, tls = endpoint_auth(d), client_tls_of(d)
    found = [str(getattr(auth, SECRET_OF[auth.type]))] if auth is not None else []
    if isinstance(auth, BasicAuth):  # as it goes out, which an endpoint's answer may echo
        found.append(basic_authorization(auth.username, auth.password).removeprefix("Basic "))
    password = urlsplit(getattr(d, "proxy", None) or "").password
    return [*found, *([tls.client_key] if tls and tls.client_key else []), password or ""]


class DownstreamSettings(
    PublishedSettings, DownstreamAddress, StoredSettings, Section, DownstreamExpressions
):
    """What a downstream is, wherever it is declared (the config file, or the API). Each
    destination's own settings come from its module (receiver/destinations/registry.py),
    in the order they have always been listed."""

    # Its validator, and each subclass's, built at its first use: a start builds only the
    # config file's (DownstreamConfig, inside Settings), not this one's nor the API's.
    model_config = ConfigDict(defer_build=True)

    # Only the tasks that name one of these in `channels` when submitted; none: every task.
    channels: list[Annotated[str, Field(pattern=CHANNEL)]] = Field(default_factory=list)
    # Task states, `progress` for a running task's progress events (throttled by
    # `delivery.progress_interval_seconds`), and `downstream.disabled` for the relay's
    # notice that it gave up on one.
    events: list[State | Literal["progress", "downstream.disabled"]] = sorted(TERMINAL_STATES)  # type: ignore[arg-type]
    # The options (receiver/destinations/options.py): the CLI's flags and the forms' inputs too.
    timeout: Annotated[float, Field(gt=0, description="Seconds an attempt may take."), OPTION] = (
        10.0
    )
    signing: Annotated[
        Signing,
        Field(
            description="How deliveries are signed: hmac (v1, a whsec_ secret), ed25519 (v1a,"
            " a whsk_ key, verified with its whpk_ public key) or rfc9421 (RFC 9421 HTTP Message"
            " Signatures, a whsk_ key whose public key is published in the key set of its app,"
            " /.well-known/jwks/{app}.json, or of the operator, /.well-known/jwks.json). A"
            " change takes effect at the next rotation of the secret."
        ),
        OPTION,
    ] = "hmac"
    envelope: Annotated[
        Envelope,
        Field(
            description="How each event goes: relay (the relay's own event), cloudevents"
            " (a CloudEvent 1.0 in structured mode: one JSON document, content type"
            " application/cloudevents+json) or cloudevents-binary (the event's data as the"
            " body, the CloudEvent's attributes in its protocol's headers). A webhook"
            " downstream with a CloudEvent envelope is validated (an OPTIONS handshake) before"
            " its first delivery."
        ),
        OPTION,
    ] = "relay"
    # How the relay proves itself to the endpoint (HTTP formats): basic, bearer or oauth2.
    auth: EndpointAuth | None = None
    # Mutual TLS (a client certificate and key), and a private CA, for an HTTPS endpoint.
    tls: ClientTls | None = None
    # This downstream's own HTTP proxy, in place of `delivery.proxy`.
    proxy: Annotated[str, Field(pattern=r"^https?://[^/?#\s]+/?$", max_length=2048)] | None = None
    max_in_flight: Annotated[
        int,
        Field(
            gt=0,
            description="Its share of the fan-out: the deliveries a slow or dead endpoint may"
            " hold at once.",
        ),
        OPTION,
    ] = 8
    rate_per_second: Annotated[float, Field(gt=0)] | None = None
    max_per_second: Annotated[
        _Positive | None,
        Field(
            description="At most this many attempts a second, by every replica together (a"
            " budget in the store); unset: no limit."
        ),
        OPTION,
    ] = None
    # Circuit breaker: at least `breaker_min_attempts` attempts in the last
    # `breaker_window_seconds`, and `breaker_failure_rate` of them failed, pause it; a probe
    # goes after the cool-off.
    breaker_failure_rate: Annotated[float, Field(gt=0, le=1)] = 0.8
    breaker_min_attempts: Annotated[int, Field(gt=0)] = 20
    breaker_window_seconds: Annotated[float, Field(gt=0)] = 60.0
    breaker_cool_off_seconds: Annotated[float, Field(gt=0)] = 30.0
    # Failing without a break this long disables it (Svix's default: 5 days).
    disable_after_seconds: Annotated[float, Field(gt=0)] = 5 * 24 * 3600.0
    ordering: Annotated[
        Literal["task"] | None,
        Field(
            description="`task`: one task's events reach this downstream in the order they"
            " were made, each once the one before it is settled (succeeded, dead or"
            " filtered), across retries, replicas and restarts; other tasks are not held"
            " up. Unset: a task's events go out as they come (a chat downstream, which"
            " edits its message, is always ordered)."
        ),
        Option(told="ordering by {}"),
    ] = None

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        if problem := header_problem(value):
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _its_destinations_settings(self) -> Self:
        """A destination's own settings only on a downstream of it, checked by it."""
        registry.check(self)
        if self.auth is not None and any(h.lower() == "authorization" for h in self.headers):
            raise ValueError("headers: Authorization is auth's to set")
        return self

    def addresses(self) -> Addresses:
        """The servers it connects to, and what `delivery.allowed_targets` matches."""
        return registry.addresses(self)

    def missing_extra(self) -> str | None:
        """The extra of the package its destination needs that the install lacks."""
        return registry.missing_extra(self.format)

    def unallowed_target(self, patterns: list[str]) -> str | None:
        """Its first address no pattern of `delivery.allowed_targets` matches."""
        return registry.unallowed_target(self, patterns)

    def transform_refusal(self) -> str | None:
        """A chat format renders a message of its own and takes a filter only."""
        return registry.transform_refusal(self.format)

    @property
    def pulled(self) -> bool:
        """Read by its app at the pull endpoint, never sent to (no breaker, no attempts)."""
        return read_by_pull(self.format)

    @property
    def ordered(self) -> bool:
        """A task's events go out in order: asked for, or a chat's (a later state of the task
        edits the message its first posted)."""
        return self.ordering == "task" or registry.chat(self.format)

    @property
    def needs_handshake(self) -> bool:
        """Validated by its endpoint before its deliveries go (the CloudEvents handshake)."""
        return registry.needs_handshake(self.format, self.envelope)

    def bodies(self) -> Callable[[DeliveryJob], Shaped]:
        """Its format's own body for a job (the event, or a chat platform's message), its
        renderer looked up once: a lane keeps it for its attempts."""
        return registry.bodies(self)

    def default_body(self, job: DeliveryJob) -> Shaped:
        """Its format's own body for `job`: the event, or a chat platform's message."""
        return self.bodies()(job)


def require_extras(downstreams: Iterable[DownstreamSettings]) -> None:
    """Refuse, in one line, the first configured downstream (by format) whose destination's
    extra of the package is missing."""
    for d in sorted(downstreams, key=lambda d: d.format):
        if (extra := d.missing_extra()) is not None:
            require(extra, f'a downstream with format = "{d.format}"')


class DownstreamConfig(DownstreamSettings):
    """One `[[downstream]]` of the config file: the operator's, trusted as written."""

    # Slack and Discord webhook URLs carry a secret in the path, broker URLs a password:
    # let them come from the env.
    url_env: str | None = None
    secret_env: str | None = None
    # A header's value from the environment (an API key).
    headers_env: dict[str, str] = Field(default_factory=dict)
    # The secret of `auth` (its password, token or client_secret), and the PEM of
    # `tls.client_key`, from the environment: given so, they are left out of the file.
    auth_secret_env: str | None = None
    client_key_env: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_the_environment(cls, data: Any) -> Any:
        """A secret named by an `_env` key stands masked until start-up reads it (load.py):
        the rules it is checked by here are those a secret kept as shown passes."""
        if not isinstance(data, dict):
            return data
        auth, tls = data.get("auth"), data.get("tls")
        if data.get("auth_secret_env") and isinstance(auth, dict) and auth.get("type") in SECRET_OF:
            data = {**data, "auth": {**auth, SECRET_OF[auth["type"]]: MASK}}
        if data.get("client_key_env") and isinstance(tls, dict):
            data = {**data, "tls": {**tls, "client_key": MASK}}
        return data

    @field_validator("headers_env")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        if problem := header_problem(dict.fromkeys(value, "")):
            raise ValueError(problem)
        return value


def from_the_environment(
    d: DownstreamConfig, read: Callable[[str, str], str]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """`auth` and `tls` with the secrets their `_env` keys name, read by `read(variable,
    key)`; None for one that takes nothing from the environment."""
    auth = tls = None
    if d.auth is not None and d.auth_secret_env:
        secret = read(d.auth_secret_env, "auth_secret_env")
        auth = d.auth.model_dump(exclude_none=True) | {SECRET_OF[d.auth.type]: secret}
    if d.tls is not None and d.client_key_env:
        tls = d.tls.model_dump() | {"client_key": read(d.client_key_env, "client_key_env")}
    return auth, tls


class ManagedDownstreamConfig(DownstreamSettings):
    """A downstream made through the API (`POST /v1/downstreams`): its URL is given, and its
    secret is the relay's to make."""

    url: Annotated[str, Field(max_length=2048)]

    @classmethod
    def stand_in(cls, spec: dict[str, Any]) -> Self:
        """The settings of a row whose URL is sealed away (or may not open), read with a URL
        its format's check passes in its place; ValidationError as for any other."""
        url = registry.sealed_url(str(spec.get("format", "webhook")))
        return cls.model_validate({**spec, "url": url})


# A downstream's options, as its model declares them (receiver/destinations/options.py):
# the command line's flags, and those the forms offer.
OPTIONS = offered(ManagedDownstreamConfig)

# What an answer shows of a downstream's settings as they are: every one but its name (shown
# with its health), its URL, its headers and its credentials (masked: credentials_masked).
MASKED_SETTINGS = ("url", "headers", "auth", "tls", "proxy")
SHOWN_SETTINGS = tuple(
    name
    for name in ManagedDownstreamConfig.model_fields
    if name != "name" and name not in MASKED_SETTINGS
)

# Every setting but the name, each optional: what `PATCH /v1/downstreams/{name}` takes
# (built at its first use, as DownstreamSettings).
DownstreamChange: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "DownstreamChange",
    __base__=Section,
    __cls_kwargs__={"defer_build": True},
    **{
        name: (cast(Any, info.annotation) | None, None)
        for name, info in ManagedDownstreamConfig.model_fields.items()
        if name != "name"
    },
)
