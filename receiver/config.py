"""Configuration: a TOML file for shape, environment variables for secrets.

Secrets never live in the file; the file names the environment variables that hold them.
A bad or incomplete configuration raises `ConfigError` with one line naming the key.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationError,
    field_validator,
    model_validator,
)

from receiver.adapters.webhooks import parse_secret
from receiver.domain.states import TERMINAL_STATES, State
from receiver.errors import ConfigError

CONFIG_ENV = "RECEIVER_CONFIG"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    # How CometAPI reaches this service from outside; callback URLs are built on it.
    public_url: HttpUrl = HttpUrl("http://127.0.0.1:8080")
    admin_token_env: str = "RECEIVER_ADMIN_TOKEN"
    # A request's head must arrive within this of the connection (or of the last answer on
    # it), and its body within `body_timeout_seconds`: slow senders cannot hold sockets.
    head_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    body_timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    # Past this many open connections, new requests are answered 503 at once.
    max_connections: Annotated[int, Field(gt=0)] = 1000


class UpstreamConfig(_Section):
    base_url: HttpUrl = HttpUrl("https://api.cometapi.com")
    api_key_env: str = "COMETAPI_KEY"
    runway_version: str = "2024-11-06"
    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0


class CallbackConfig(_Section):
    secret_env: str = "RECEIVER_SECRET"
    # Older secrets still verify tokens they signed; the current one signs new tokens.
    previous_secret_envs: list[str] = []
    max_age_seconds: Annotated[int, Field(gt=0)] = 2 * 24 * 3600
    max_body_bytes: Annotated[int, Field(gt=0)] = 1024 * 1024
    # CometAPI does not sign callbacks: by default a callback only makes the relay ask
    # CometAPI, and only CometAPI's answer changes a task. True applies the body at once
    # (anyone holding a callback URL can then finish its task with outputs of their choice).
    trust_body: bool = False
    # How long a callback's claim may wait for CometAPI to agree before it is judged.
    corroborate_seconds: Annotated[float, Field(gt=0)] = 120.0
    # Callbacks bring a poll forward, but never closer than this to the previous poll.
    min_poll_gap_seconds: Annotated[float, Field(ge=0)] = 1.0
    # Callback bodies kept per task: past either bound a callback is answered and counted
    # (`over_limit`) but not stored, so one leaked URL cannot grow the store without end.
    max_history_per_task: Annotated[int, Field(gt=0)] = 100
    max_history_bytes_per_task: Annotated[int, Field(gt=0)] = 1024 * 1024


class PollingConfig(_Section):
    callback_grace_seconds: Annotated[float, Field(ge=0)] = 600.0
    initial_delay_seconds: Annotated[float, Field(ge=0)] = 5.0
    interval_seconds: Annotated[float, Field(gt=0)] = 10.0
    max_interval_seconds: Annotated[float, Field(gt=0)] = 120.0
    backoff_factor: Annotated[float, Field(ge=1)] = 1.5
    task_not_exist_grace_seconds: Annotated[float, Field(ge=0)] = 60.0
    give_up_after_seconds: Annotated[float, Field(gt=0)] = 6 * 3600.0
    tick_seconds: Annotated[float, Field(gt=0)] = 1.0
    batch_size: Annotated[int, Field(gt=0)] = 50
    lease_seconds: Annotated[float, Field(gt=0)] = 60.0


class DeliveryConfig(_Section):
    # Seconds to wait before each retry; the first attempt is immediate.
    retry_schedule: list[Annotated[float, Field(ge=0)]] = [5, 30, 120, 600, 1800, 7200]
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.2
    max_retry_after_seconds: Annotated[float, Field(ge=0)] = 3600.0
    # Under load each attempt spans several turns of a busy event loop: at 16 in flight the
    # outbox fell behind 1,800 callbacks/s in the bench, at 64 it kept up.
    concurrency: Annotated[int, Field(gt=0)] = 64
    tick_seconds: Annotated[float, Field(gt=0)] = 1.0
    lease_seconds: Annotated[float, Field(gt=0)] = 60.0
    shutdown_grace_seconds: Annotated[float, Field(ge=0)] = 10.0
    # False when `receiver deliver` runs the fan-out in a process of its own.
    in_process: bool = True


class MediaConfig(_Section):
    """Copies of finished renders, made before the provider's links expire (24-48 h)."""

    enabled: bool = False
    store: Literal["local", "s3"] = "local"
    dir: str = "media"
    # store = "s3": any S3-compatible bucket. The keys are read from the environment
    # variables named here; both "" leaves them to the AWS chain (env, instance role).
    bucket: str = ""
    prefix: str = ""
    endpoint_url: str = ""  # "" for AWS itself; MinIO, R2, Ceph...: their URL
    region: str = "us-east-1"
    access_key_id_env: str = "AWS_ACCESS_KEY_ID"
    secret_access_key_env: str = "AWS_SECRET_ACCESS_KEY"
    # True: /media/<token> answers 307 to a presigned URL of the bucket (valid as long as the
    # token, at most 7 days); false: the relay streams the object itself, Range included.
    presign: bool = True
    max_bytes: Annotated[int, Field(gt=0)] = 2 * 1024**3
    # Downloads go to public addresses only, unless this is set (tests, the demo).
    allow_private_networks: bool = False
    # How long a signed /media link stays valid.
    url_ttl_seconds: Annotated[int, Field(gt=0)] = 30 * 24 * 3600
    # A copy that has not succeeded by then is given up: the event goes out with the
    # original links and `"media": {"status": "failed", "reason": ...}`.
    wait_seconds: Annotated[float, Field(gt=0)] = 600.0
    download_timeout_seconds: Annotated[float, Field(gt=0)] = 900.0
    retention_days: Annotated[float, Field(gt=0)] = 90.0
    tick_seconds: Annotated[float, Field(gt=0)] = 1.0

    @field_validator("endpoint_url")
    @classmethod
    def _http_endpoint(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL, or empty for AWS")
        return value

    @model_validator(mode="after")
    def _s3_complete(self) -> MediaConfig:
        if self.store != "s3":
            return self
        if not self.bucket.strip():
            raise ConfigError('config key media.bucket: must be set when media.store = "s3"')
        if bool(self.access_key_id_env) != bool(self.secret_access_key_env):
            raise ConfigError(
                "config key media.access_key_id_env: set it and media.secret_access_key_env"
                ' both, or both to "" for the AWS credential chain'
            )
        return self


class StorageConfig(_Section):
    url: str = "sqlite:///runway-relay.db"

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value


class LoggingConfig(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"


class ConsoleConfig(_Section):
    """The operator console at /console."""

    # How long a login lasts; a new admin token ends every session at once.
    session_seconds: Annotated[int, Field(gt=0)] = 12 * 3600
    # Failed logins from one client address within a minute before it must wait.
    login_attempts_per_minute: Annotated[int, Field(gt=0)] = 5


class DownstreamConfig(_Section):
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    url: HttpUrl | None = None
    # Slack and Discord webhook URLs carry a secret in the path: let them come from the env.
    url_env: str | None = None
    format: Literal[
        "webhook", "slack", "discord", "teams", "telegram", "google_chat", "mattermost"
    ] = "webhook"
    # Task states, and `downstream.disabled` for the relay's notice that it gave up on one.
    events: list[State | Literal["downstream.disabled"]] = sorted(TERMINAL_STATES)  # type: ignore[arg-type]
    secret_env: str | None = None
    timeout: Annotated[float, Field(gt=0)] = 10.0
    # One downstream's share of the fan-out: a slow or dead one can hold no more than this.
    max_in_flight: Annotated[int, Field(gt=0)] = 8
    rate_per_second: Annotated[float, Field(gt=0)] | None = None
    # Circuit breaker: at least `breaker_min_attempts` attempts in the last
    # `breaker_window_seconds`, and `breaker_failure_rate` of them failed, pause it; a probe
    # goes after the cool-off.
    breaker_failure_rate: Annotated[float, Field(gt=0, le=1)] = 0.8
    breaker_min_attempts: Annotated[int, Field(gt=0)] = 20
    breaker_window_seconds: Annotated[float, Field(gt=0)] = 60.0
    breaker_cool_off_seconds: Annotated[float, Field(gt=0)] = 30.0
    # Failing without a break this long disables it (Svix's default: 5 days).
    disable_after_seconds: Annotated[float, Field(gt=0)] = 5 * 24 * 3600.0


class Settings(_Section):
    server: ServerConfig = ServerConfig()
    upstream: UpstreamConfig = UpstreamConfig()
    callbacks: CallbackConfig = CallbackConfig()
    polling: PollingConfig = PollingConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    storage: StorageConfig = StorageConfig()
    media: MediaConfig = MediaConfig()
    logging: LoggingConfig = LoggingConfig()
    console: ConsoleConfig = ConsoleConfig()
    downstream: list[DownstreamConfig] = []


class Downstream(BaseModel):
    """A downstream with its URL and secret resolved from the environment."""

    model_config = ConfigDict(frozen=True)

    name: str
    url: str
    format: str
    events: frozenset[str]
    secret: str | None
    timeout: float
    url_is_secret: bool  # came from url_env: Slack and Discord URLs embed a credential
    max_in_flight: int
    rate_per_second: float | None
    breaker_failure_rate: float
    breaker_min_attempts: int
    breaker_window_seconds: float
    breaker_cool_off_seconds: float
    disable_after_seconds: float


class Secrets(BaseModel):
    model_config = ConfigDict(frozen=True)

    api_key: str
    admin_token: str
    # Newest last: itsdangerous signs with the last key and verifies with all of them.
    signing_keys: list[str]

    def all(self) -> list[str]:
        return [self.api_key, self.admin_token, *self.signing_keys]


class Config(BaseModel):
    """Everything the service needs to run, secrets resolved."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    settings: Settings
    secrets: Secrets
    downstreams: list[Downstream]

    def log_secrets(self) -> list[str]:
        """Every value that must never appear in a log line."""
        downstream = [d.secret for d in self.downstreams if d.secret]
        urls = [d.url for d in self.downstreams if d.url_is_secret]
        return [*self.secrets.all(), *downstream, *urls]

    @property
    def public_url(self) -> str:
        return str(self.settings.server.public_url).rstrip("/")


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(top level)"
    return f"{where}: {err['msg']}"


def parse_settings(data: dict[str, object]) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"config key {_first_error(exc)}") from None


def read_settings(path: str | os.PathLike[str] | None) -> Settings:
    """Read the TOML file (or defaults when no path) into validated settings."""
    if path is None:
        return Settings()
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path}: not valid TOML ({exc})") from None
    return parse_settings(data)


def _env(environ: dict[str, str] | os._Environ[str], name: str, key: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"config key {key}: environment variable {name} is not set")
    return value


MIN_SECRET_LENGTH = 16


def _check_length(value: str, key: str, env: str) -> None:
    # A short token or key can be guessed, and is too short to scrub from logs safely.
    if len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"config key {key}: the value of {env} must be at least {MIN_SECRET_LENGTH}"
            " characters (make one with: openssl rand -base64 32)"
        )


def _check_leases(settings: Settings) -> None:
    """A lease shorter than the work it covers lets a second worker redo work in flight."""
    lease = settings.delivery.lease_seconds
    for i, d in enumerate(settings.downstream):
        if d.timeout >= lease:
            raise ConfigError(
                f"config key downstream.{i}.timeout: must be below delivery.lease_seconds"
                f" ({lease:g}), or a delivery still in flight would be sent again"
            )
    if settings.upstream.timeout_seconds >= settings.polling.lease_seconds:
        raise ConfigError(
            "config key polling.lease_seconds: must exceed upstream.timeout_seconds"
            f" ({settings.upstream.timeout_seconds:g}), or a poll in flight would be repeated"
        )


def resolve(settings: Settings, environ: dict[str, str] | os._Environ[str] = os.environ) -> Config:
    """Pull every secret the settings name out of the environment."""
    secrets = Secrets(
        api_key=_env(environ, settings.upstream.api_key_env, "upstream.api_key_env"),
        admin_token=_env(environ, settings.server.admin_token_env, "server.admin_token_env"),
        signing_keys=[
            *(
                _env(environ, name, "callbacks.previous_secret_envs")
                for name in settings.callbacks.previous_secret_envs
            ),
            _env(environ, settings.callbacks.secret_env, "callbacks.secret_env"),
        ],
    )
    _check_length(secrets.admin_token, "server.admin_token_env", settings.server.admin_token_env)
    signing_envs = [*settings.callbacks.previous_secret_envs, settings.callbacks.secret_env]
    for value, name in zip(secrets.signing_keys, signing_envs, strict=True):
        key = (
            "callbacks.secret_env"
            if name == settings.callbacks.secret_env
            else ("callbacks.previous_secret_envs")
        )
        _check_length(value, key, name)
    names = [d.name for d in settings.downstream]
    if len(set(names)) != len(names):
        raise ConfigError("config key downstream.name: names must be unique")
    downstreams = []
    for i, d in enumerate(settings.downstream):
        key = f"downstream.{i}"
        if (d.url is None) == (d.url_env is None):
            raise ConfigError(f"config key {key}: set exactly one of url and url_env")
        url = str(d.url) if d.url is not None else _env(environ, d.url_env or "", f"{key}.url_env")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"config key {key}.url_env: must hold an http(s) URL")
        secret = _env(environ, d.secret_env, f"{key}.secret_env") if d.secret_env else None
        if secret is not None:
            try:
                parse_secret(secret)
            except ValueError as exc:
                raise ConfigError(
                    f"config key {key}.secret_env: the secret in {d.secret_env} {exc}"
                ) from None
        downstreams.append(
            Downstream(
                name=d.name,
                url=url,
                format=d.format,
                events=frozenset(d.events),
                secret=secret,
                timeout=d.timeout,
                url_is_secret=d.url_env is not None,
                max_in_flight=d.max_in_flight,
                rate_per_second=d.rate_per_second,
                breaker_failure_rate=d.breaker_failure_rate,
                breaker_min_attempts=d.breaker_min_attempts,
                breaker_window_seconds=d.breaker_window_seconds,
                breaker_cool_off_seconds=d.breaker_cool_off_seconds,
                disable_after_seconds=d.disable_after_seconds,
            )
        )
    _check_leases(settings)
    return Config(settings=settings, secrets=secrets, downstreams=downstreams)


def load(path: str | None, environ: dict[str, str] | os._Environ[str] = os.environ) -> Config:
    """Settings from `path` (or $RECEIVER_CONFIG), $PORT over the port, secrets from env."""
    settings = read_settings(path or environ.get(CONFIG_ENV) or None)
    port = environ.get("PORT")
    if port:
        if not port.isdigit() or int(port) > 65535:
            raise ConfigError(f"environment variable PORT: {port!r} is not a port number")
        settings = settings.model_copy(
            update={"server": settings.server.model_copy(update={"port": int(port)})}
        )
    return resolve(settings, environ)
