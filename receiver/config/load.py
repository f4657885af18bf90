"""From a file and the environment to a `Config`: every problem gathered into one
`ConfigError` line, secrets read from the variables the file names."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
)

from receiver import CONFIG_ENV
from receiver.config.downstream import (
    DownstreamConfig,
    DownstreamSettings,
    ManagedDownstreamConfig,
    credential_values,
    from_the_environment,
)
from receiver.config.environ import overlay
from receiver.config.expression_fields import vet_now
from receiver.config.names import Normalised, unknown
from receiver.config.settings import Settings
from receiver.kernel.errors import ConfigError
from receiver.kernel.http.errors import problem_of
from receiver.kernel.net.credentials import tls_problem
from receiver.kernel.net.headers import header_problem
from receiver.kernel.secrets.signing import PREFIX, SIGNING_PREFIX, parse_secret, signing_of


class Downstream(DownstreamSettings):
    """A downstream as the relay runs it: its settings (the one model of the config file
    and the API), its URL and secret resolved from the environment or opened from the
    store. Made from settings already checked, so never validated again."""

    url: str
    secret: str | None = None
    url_is_secret: bool = False  # came from url_env: Slack and Discord URLs embed a credential
    # Made through the API: its URL came from a caller, and its secret may be rotating.
    managed: bool = False
    previous_secret: str | None = None  # signs beside `secret` until `previous_until`
    previous_until: float = 0.0  # (receiver/kernel/secrets/signing.py's `secrets_in_use`)
    # An app's tasks' own webhooks: its ed25519 key signs `v1a` beside `secret`'s `v1`, and
    # the key a rotation replaced beside `previous_secret` (receiver/keys/webhook_keys.py).
    key_beside: str | None = None
    previous_key_beside: str | None = None


class Secrets(BaseModel):
    model_config = ConfigDict(frozen=True)

    api_key: str
    admin_token: str
    # Newest last: itsdangerous signs with the last key and verifies with all of them.
    signing_keys: list[str]
    metrics_token: str | None = None  # /metrics asks for it when set
    task_webhook_secret: str | None = None  # signs every task's own webhook

    def all(self) -> list[str]:
        optional = [self.metrics_token or "", self.task_webhook_secret or ""]
        return [self.api_key, self.admin_token, *self.signing_keys, *optional]


class Config(BaseModel):
    """Everything the service needs to run, secrets resolved."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    settings: Settings
    secrets: Secrets
    downstreams: list[Downstream]
    # One line per old key the file still uses, logged at start.
    deprecations: tuple[str, ...] = ()

    def log_secrets(self) -> list[str]:
        """Every value that must never appear in a log line."""
        downstream = [d.secret for d in self.downstreams if d.secret]
        urls = [d.url for d in self.downstreams if d.url_is_secret]
        # A broker URL's password, wherever the URL came from.
        passwords = [p for d in self.downstreams if (p := urlsplit(d.url).password)]
        headers = [v for d in self.downstreams for v in d.headers.values()]
        credentials = [v for d in self.downstreams for v in credential_values(d)]
        return [
            *headers,
            *credentials,
            *self.secrets.all(),
            *downstream,
            *urls,
            *passwords,
            self.settings.storage.password or "",
        ]

    @property
    def public_url(self) -> str:
        return str(self.settings.server.public_url).rstrip("/")


def problems(exc: ValidationError, whole: str) -> list[str]:
    """Every error pydantic found, in the relay's words (`problem_of`), an unknown field
    said so."""
    found = []
    for err in exc.errors(include_url=False, include_input=False):
        if err["type"] == "extra_forbidden":
            err["msg"] = "unknown field, leave it out"
        found.append(problem_of(err, whole, 0))
    return found


def _known_beside(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the settings model knows where `loc`'s last part was found."""
    model: Any = Settings
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        annotation = field.annotation if field is not None else None
        model = get_args(annotation)[0] if get_args(annotation) else annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
    return list(model.model_fields)


def _messages(exc: ValidationError) -> list[str]:
    found = []
    for err, problem in zip(exc.errors(), problems(exc, "(top level)"), strict=True):
        if err["type"] == "extra_forbidden":
            problem = unknown(".".join(map(str, err["loc"])), _known_beside(err["loc"]))
        found.append(problem if err["type"] == "extra_forbidden" else f"config key {problem}")
    return found


def _validate(raw: dict[str, object]) -> tuple[Settings, set[str], list[str], list[str]]:
    """The settings (wrong sections left at their defaults), the wrong sections, the errors,
    the deprecation lines."""
    given = Normalised(raw)
    data, said = given.data, given.deprecations
    try:
        return Settings.model_validate(data), set(), given.problems, said
    except ValidationError as exc:
        settings, wrong = _without_the_wrong(data, exc)
        return settings, wrong, [*given.problems, *_messages(exc)], said


def _without_the_wrong(data: dict[str, Any], exc: ValidationError) -> tuple[Settings, set[str]]:
    """The settings with only the wrong keys of a section left at their defaults, so that
    the rest of it (the variables it names) is still checked; a section that stays wrong
    without them (or a list of them) left at its defaults as a whole. The wrong ones are
    returned as `section` or `section.key`."""
    keys: dict[str, set[str]] = {}
    for err in exc.errors():
        section, loc = str(err["loc"][0]), err["loc"]
        if len(loc) > 1 and isinstance(loc[1], str) and isinstance(data.get(section), dict):
            keys.setdefault(section, set()).add(loc[1])
        else:
            keys[section] = set()  # the section as a whole
    kept = {key: value for key, value in data.items() if key not in keys}
    for section, bad in keys.items():
        if bad:
            kept[section] = {k: v for k, v in data[section].items() if k not in bad}
    try:
        settings = Settings.model_validate(kept)
    except ValidationError:  # the keys left out were needed: the sections left out whole
        settings = Settings.model_validate({k: v for k, v in data.items() if k not in keys})
        return settings, set(keys)
    return settings, {f"{s}.{k}" for s, bad in keys.items() for k in bad} | {
        s for s, bad in keys.items() if not bad
    }


def parse_settings(data: dict[str, object]) -> Settings:
    settings, _, problems, _ = _validate(data)
    if problems:
        raise ConfigError("; ".join(problems))
    return settings


def _read_toml(path: str | os.PathLike[str] | None) -> dict[str, object]:
    if path is None:
        return {}
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path}: not valid TOML ({exc})") from None


def read_settings(
    path: str | os.PathLike[str] | None, environ: Mapping[str, str] = os.environ
) -> Settings:
    """Read the TOML file (or defaults when no path), with the `RECEIVER__*` variables over
    it, into validated settings."""
    given = overlay(_read_toml(path), environ)
    settings, _, found, _ = _validate(given.data)
    if problems := [*given.problems, *map(given.source, found)]:
        raise ConfigError("; ".join(problems))
    return settings


MIN_SECRET_LENGTH = 16


class _Environment:
    """Reads the variables the settings name, noting each problem, but none under a key
    that is wrong already (`section` or `section.key`: what it names is not known)."""

    def __init__(self, environ: Mapping[str, str], problems: list[str], wrong: set[str]) -> None:
        self.environ, self.problems, self.wrong = environ, problems, wrong
        # Sections with anything wrong: values compared across them are not all known.
        self.wrong_sections = {w.split(".", 1)[0] for w in wrong}

    def note(self, key: str, problem: str) -> None:
        if not any(key == w or key.startswith(f"{w}.") for w in self.wrong):
            self.problems.append(f"config key {key}: {problem}")

    def get(self, name: str, key: str) -> str:
        value = self.environ.get(name, "").strip()
        if not value:
            self.note(key, f"environment variable {name} is not set")
        return value

    def secret(self, name: str, key: str) -> str:
        value = self.get(name, key)
        # A short token or key can be guessed, and is too short to scrub from logs safely.
        if value and len(value) < MIN_SECRET_LENGTH:
            at_least = f"at least {MIN_SECRET_LENGTH} characters"
            make_one = "make one with: openssl rand -base64 32"
            self.note(key, f"the value of {name} must be {at_least} ({make_one})")
        return value


def timeout_problem(timeout: float, lease: float) -> str | None:
    """Why a downstream's timeout is refused, if it is: a lease shorter than an attempt
    lets another worker send the delivery again while it is in flight."""
    if timeout < lease:
        return None
    return (
        f"must be below advanced.delivery.attempt_lease_seconds ({lease:g}), or a delivery"
        " still in flight would be sent again"
    )


def _check_leases(settings: Settings, env: _Environment) -> None:
    """A lease shorter than the work it covers lets a second worker redo work in flight."""
    if env.wrong_sections & {"delivery", "polling", "upstream", "downstream"}:
        return  # the values compared are not known
    lease = settings.delivery.attempt_lease_seconds
    for i, d in enumerate(settings.downstream):
        if (problem := timeout_problem(d.timeout, lease)) is not None:
            env.note(f"downstream.{i}.timeout", problem)
    if settings.upstream.timeout_seconds >= settings.polling.poll_lease_seconds:
        env.note(
            "advanced.polling.poll_lease_seconds",
            f"must exceed upstream.timeout_seconds ({settings.upstream.timeout_seconds:g}),"
            " or a poll in flight would be repeated",
        )


def _downstream(d: DownstreamConfig, key: str, env: _Environment) -> Downstream:
    if (d.url is None) == (d.url_env is None):
        env.note(key, "set exactly one of url and url_env")
    url = d.url if d.url is not None else env.get(d.url_env or "", f"{key}.url_env")
    if url and d.url is None:
        try:
            url = d.checked_url(url)
        except ValueError as exc:
            env.note(f"{key}.url_env", f"the value of {d.url_env}: {exc}")
    secret = env.get(d.secret_env, f"{key}.secret_env") if d.secret_env else None
    if secret:
        try:
            parse_secret(secret)
        except ValueError as exc:
            env.note(f"{key}.secret_env", f"the secret in {d.secret_env} {exc}")
        else:
            ed = d.signing != "hmac"  # rfc9421 signs with an ed25519 key too
            if signing_of(secret) != ("ed25519" if ed else "hmac"):
                prefix, how = SIGNING_PREFIX if ed else PREFIX, " --ed25519" if ed else ""
                why = f"signing is {d.signing}: the secret in {d.secret_env} must be {prefix}"
                env.note(f"{key}.secret_env", f"{why} (make one with `receiver secret{how}`)")
    headers = dict(d.headers)
    for header, name in d.headers_env.items():
        headers[header] = env.get(name, f"{key}.headers_env")
    if problem := header_problem(headers):
        env.note(f"{key}.headers_env", problem)
    auth, tls = from_the_environment(d, lambda name, at: env.get(name, f"{key}.{at}"))
    key_problem = (
        tls and tls["client_key"] and tls_problem(tls["client_cert"], tls["client_key"], None)
    )
    if key_problem:
        env.note(f"{key}.client_key_env", f"the value of {d.client_key_env}: {key_problem}")
    from_env = {"url_env", "secret_env", "headers_env", "auth_secret_env", "client_key_env"}
    settings = d.model_dump(exclude={"url", "headers", *from_env})
    settings |= {k: v for k, v in (("auth", auth), ("tls", tls)) if v is not None}
    return Downstream.model_construct(
        **settings,
        headers=headers,
        url=url,
        secret=secret,
        url_is_secret=d.url_env is not None,
    )


def managed_downstream(
    settings: ManagedDownstreamConfig,
    secret: str,
    previous_secret: str | None,
    previous_until: float | None,
) -> Downstream:
    """A downstream made through the API, with its secrets opened."""
    return Downstream.model_construct(
        **settings.model_dump(),
        secret=secret,
        url_is_secret=settings.credential_in_url,
        managed=True,
        previous_secret=previous_secret,
        previous_until=previous_until or 0.0,
    )


def resolve(
    settings: Settings,
    environ: Mapping[str, str] = os.environ,
    problems: list[str] | None = None,
    wrong: set[str] | None = None,
) -> Config:
    """Pull every secret the settings name out of the environment; raise every problem
    found here and in `problems` (those of the sections in `wrong`) at once."""
    env = _Environment(environ, problems or [], wrong or set())
    callbacks, media = settings.callbacks, settings.media
    api_key = env.get(settings.upstream.api_key_env, "upstream.api_key_env")
    admin = env.secret(settings.server.admin_token_env, "server.admin_token_env")
    signing = [
        *(env.secret(n, "callbacks.previous_secret_envs") for n in callbacks.previous_secret_envs),
        env.secret(callbacks.secret_env, "callbacks.secret_env"),
    ]
    metrics_env = settings.server.metrics_token_env
    metrics_token = env.secret(metrics_env, "server.metrics_token_env") if metrics_env else None
    # Optional: only tasks that ask for a webhook need it (they are refused without).
    hook_env = settings.delivery.task_webhook_secret_env
    task_webhook_secret = environ.get(hook_env) or None if hook_env else None
    if task_webhook_secret:
        try:
            parse_secret(task_webhook_secret)
        except ValueError as exc:
            env.note("delivery.task_webhook_secret_env", f"the secret in {hook_env} {exc}")
    if media.enabled and media.store == "s3" and media.access_key_id_env:
        env.get(media.access_key_id_env, "media.access_key_id_env")
        env.get(media.secret_access_key_env, "media.secret_access_key_env")
    names = [d.name for d in settings.downstream]
    if len(set(names)) != len(names):
        env.note("downstream.name", "names must be unique")
    downstreams = [
        _downstream(d, f"downstream.{i}", env) for i, d in enumerate(settings.downstream)
    ]
    _check_leases(settings, env)
    if "downstream" not in env.wrong_sections:  # compiled in a process (expression_fields.py)
        for i, problem in enumerate(vet_now(settings.downstream)):
            if problem is not None:
                env.note(f"downstream.{i}", problem)
    if env.problems:
        raise ConfigError("; ".join(env.problems))
    secrets = Secrets(
        api_key=api_key,
        admin_token=admin,
        signing_keys=signing,
        metrics_token=metrics_token,
        task_webhook_secret=task_webhook_secret,
    )
    return Config(settings=settings, secrets=secrets, downstreams=downstreams)


def _with_port(settings: Settings, environ: Mapping[str, str], problems: list[str]) -> Settings:
    """$PORT as 12-factor hosts set it: it wins over `server.port`, and with no `server.host`
    the relay listens on every interface, for the platform's router (gunicorn's convention)."""
    port = environ.get("PORT")
    if not port:
        return settings
    if not port.isdigit() or int(port) > 65535:
        problems.append(f"environment variable PORT: {port!r} is not a port number")
        return settings
    update: dict[str, object] = {"port": int(port)}
    if "host" not in settings.server.model_fields_set:
        update["host"] = "0.0.0.0"
    return settings.model_copy(update={"server": settings.server.model_copy(update=update)})


def effective_settings(path: str | None, environ: Mapping[str, str] = os.environ) -> Settings:
    """The settings a process started here would run with, secrets left unread: what
    `receiver config show` prints."""
    problems: list[str] = []
    path = path or environ.get(CONFIG_ENV) or None
    settings = _with_port(read_settings(path, environ), environ, problems)
    if problems:
        raise ConfigError("; ".join(problems))
    return settings


def load(path: str | None, environ: Mapping[str, str] = os.environ) -> Config:
    """Settings from `path` (or $RECEIVER_CONFIG) with the `RECEIVER__*` variables over it,
    $PORT, secrets from the environment; every problem with them in one ConfigError."""
    given = overlay(_read_toml(path or environ.get(CONFIG_ENV) or None), environ)
    settings, wrong, found, deprecations = _validate(given.data)
    problems = [*given.problems, *map(given.source, found)]
    config = resolve(_with_port(settings, environ, problems), environ, problems, wrong)
    return config.model_copy(update={"deprecations": tuple(deprecations)})
