"""Structured JSON logs on stdout, with secrets scrubbed from every line.

Our own lines and those of uvicorn and httpx go through one structlog formatter, so they
share the JSON shape and the redaction. Redaction acts on the values of a line (a message,
an exception's text, a URL, a nested key), never on its field names, its `level` or its
event's name, and never on the rendered text: whatever a secret is, every line stays JSON.

Two kinds of secret. The operator's, known at start (the admin token, RECEIVER_SECRET,
CometAPI's key, ...), are cut out of every line (`add_secrets`). A value a remote party
chooses (a downstream's OAuth2 token, which its token endpoint picks; the secrets an app
gave a downstream it made) is cut out only where it can show: inside `scoped(redactor)`,
around that downstream's own attempts, whose log lines, errors and excerpts are scrubbed
with it too. Searched in every line, such a value could be any text (`"level":"info"`,
`delivery.succeeded`, another downstream's name) and cut it out of every app's lines.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

import orjson

from receiver.kernel.errors import StoreSlow

# structlog's package imports its console renderer (structlog.dev), which imports rich for
# its tracebacks wherever rich is installed (25 ms of a start). The relay renders JSON and
# never uses that renderer: rich is hidden while structlog loads, unless already loaded.
_HIDE_RICH = "rich" not in sys.modules
if _HIDE_RICH:
    sys.modules["rich"] = None  # type: ignore[assignment]
try:
    import structlog
    from structlog.typing import EventDict, FilteringBoundLogger, WrappedLogger
finally:
    if _HIDE_RICH:
        del sys.modules["rich"]

_REDACTED = "[redacted]"
# Callback tokens are itsdangerous tokens: base64 JSON payload, timestamp, signature.
_TOKEN = re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]{8,}")
_CALLBACK_PATH = re.compile(r"(/callbacks/runway/)[^/\s\"'?]+")
# A secret URL's path segments this long are credentials (Slack's, Discord's and Telegram's
# are far longer); shorter ones are words like `services` or `sendVideo`.
_MIN_PART = 16
# Values no secret is searched in: the line's shape, written by the relay itself.
_SHAPE = frozenset({"level", "timestamp", "logger", "trace_id", "span_id"})


class Redactor:
    """Secrets, each in every spelling it may come back in, and the text they are cut from."""

    def __init__(self) -> None:
        self.secrets: tuple[str, ...] = ()

    def add(self, secrets: Iterable[str | None]) -> None:
        """Shorter strings than 8 characters are never taken: they would over-match."""
        known = set(self.secrets)
        for secret in secrets:
            if secret and len(secret) >= 8:
                known |= {s for s in _spellings(secret) if len(s) >= 8}
        # Longest first, so a secret that contains another is removed whole.
        self.secrets = tuple(sorted(known, key=len, reverse=True))

    def hold(self, secrets: Iterable[str | None]) -> None:
        """These secrets alone (an OAuth2 token and the one it replaced): those held before
        are no longer searched for."""
        self.secrets = ()
        self.add(secrets)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, _REDACTED)
        return text

    def found_in(self, text: str) -> bool:
        return any(secret in text for secret in self.secrets)


_everywhere = Redactor()
# The redactors of what the running task does for one party (its downstream's attempt).
_scope: contextvars.ContextVar[tuple[Redactor, ...]] = contextvars.ContextVar(
    "log_scope", default=()
)


@contextlib.contextmanager
def scoped(*redactors: Redactor | None) -> Iterator[None]:
    """Inside: the `redactors`' secrets are cut out of every log line written and every
    text `scrub` is given (in this task, and in the tasks it starts), beside the operator's."""
    held = tuple(r for r in redactors if r is not None)
    if not held:
        yield
        return
    token = _scope.set((*_scope.get(), *held))
    try:
        yield
    finally:
        _scope.reset(token)


def _spellings(secret: str) -> set[str]:
    """A secret as it may reappear: as given, percent-encoded or -decoded (a URL's `%7E`
    comes back as `~` in a client's error text, and the other way round); for a URL, also
    its path and each long part of it, which is where a chat webhook or a bot keeps its
    credential and what a server's "Cannot POST <path>" answer quotes."""
    forms = {secret}
    parts = urlsplit(secret)
    if parts.scheme in ("http", "https") and parts.netloc:
        forms.add(parts.path)
        forms.update(p for p in parts.path.split("/") if len(p) >= _MIN_PART)
        if parts.query:
            forms.add(parts.query)
    spellings = {
        spelling
        for form in forms
        for spelling in (form, quote(form, safe=""), quote(form), unquote(form), quote_plus(form))
    }
    # As JSON escapes it: a secret holding a quote or a backslash, quoted in a JSON answer
    # (an excerpt), and in a rendered line, which is searched first (`_render`).
    return spellings | {orjson.dumps(spelling).decode()[1:-1] for spelling in spellings}


def add_secrets(secrets: Iterable[str | None]) -> None:
    """The operator's values that must never appear in a log line, in any of their
    spellings. Start-up refuses tokens and keys under 16 characters."""
    _everywhere.add(secrets)


def _redactors() -> tuple[Redactor, ...]:
    return (_everywhere, *_scope.get())


def scrub(text: str, limit: int | None = None) -> str:
    """`text` with every known secret cut out (the operator's, and those of the scope it is
    scrubbed in), then cut to `limit` characters: in this order, for a secret cut in half
    would no longer be recognised. For what is stored or answered (log lines are scrubbed
    on their own); give it more than it will keep, at least `limit` plus the longest secret,
    so a secret across the end is still whole."""
    scrubbed = _scrub(text, _redactors())
    return scrubbed if limit is None else scrubbed[:limit]


def _scrub(text: str, redactors: tuple[Redactor, ...]) -> str:
    for redactor in redactors:
        text = redactor.scrub(text)
    # The substring tests are cheap and skip the regexes for almost every value.
    if "/callbacks/runway/" in text:
        text = _CALLBACK_PATH.sub(r"\1" + _REDACTED, text)
    return _TOKEN.sub(_REDACTED, text) if "eyJ" in text else text


def _unencodable(value: Any) -> str:
    # An exception's words, as its message reads; anything else orjson cannot encode, as
    # structlog's JSON renderer shows it.
    return str(value) if isinstance(value, BaseException) else repr(value)


def _value(value: Any, redactors: tuple[Redactor, ...]) -> Any:
    """A value with every secret cut out of its strings (and of a nested mapping's keys,
    which are data); anything orjson cannot encode, as text first."""
    if isinstance(value, str):
        return _scrub(value, redactors)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {
            _value(key, redactors) if isinstance(key, str) else key: _value(item, redactors)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_value(item, redactors) for item in value]
    return _scrub(_unencodable(value), redactors)


def _scrubbed(event: EventDict, kept: frozenset[str], redactors: tuple[Redactor, ...]) -> Any:
    """The line's fields, each value scrubbed but those named `kept`; field names never."""
    return {key: value if key in kept else _value(value, redactors) for key, value in event.items()}


def _rendered(event: EventDict, kept: frozenset[str]) -> str:
    """The line in JSON. Rendered first and searched whole, as it reads (every secret is
    also searched as JSON escapes it): most lines hold no secret, and are written as
    rendered; one that may is rendered again from its scrubbed values."""
    line = orjson.dumps(event, default=_unencodable).decode()
    scope = _scope.get()
    if (
        _everywhere.found_in(line)
        or (scope and any(r.found_in(line) for r in scope))
        or "/callbacks/runway/" in line
        or "eyJ" in line
    ):
        return orjson.dumps(_scrubbed(event, kept, (_everywhere, *scope))).decode()
    return line


# Our own lines' `event` is a name the code gives; a library's is its message, scrubbed.
_OWN = _SHAPE | {"event"}


def _render(logger: WrappedLogger, method: str, event: EventDict) -> str:
    return _rendered(event, _OWN)


def _render_foreign(logger: WrappedLogger, method: str, event: EventDict) -> str:
    return _rendered(event, _SHAPE)


def _as_read(line: str) -> str:
    """A JSON line, already scrubbed, as a person reads it among `receiver dev`'s lines:
    its local time, level and name, then its fields as key=value."""
    doc = orjson.loads(line)
    stamp = str(doc.pop("timestamp", ""))
    with contextlib.suppress(ValueError):
        stamp = datetime.fromisoformat(stamp).astimezone().strftime("%H:%M:%S")
    level, what = doc.pop("level", ""), doc.pop("event", "")
    rest = "  ".join(f"{key}={value}" for key, value in doc.items())
    return f"{stamp}  relay  {level}  {what}  {rest}".rstrip()


def _render_read(logger: WrappedLogger, method: str, event: EventDict) -> str:
    return _as_read(_rendered(event, _OWN))


def _render_foreign_read(logger: WrappedLogger, method: str, event: EventDict) -> str:
    return _as_read(_rendered(event, _SHAPE))


# How a line names a downstream (`downstream=`): as people read it (`APP/NAME`), once the
# directory that knows the apps' names says how (receiver/downstreams/directory.py).
_shown_downstream: Callable[[str], str] | None = None


def name_downstreams(shown: Callable[[str], str]) -> None:
    global _shown_downstream
    _shown_downstream = shown


def _downstream_as_read(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    name = event.get("downstream")
    if _shown_downstream is not None and isinstance(name, str):
        event["downstream"] = _shown_downstream(name)
    return event


def _slow_store_is_a_warning(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """A line logged with a StoreSlow (the store past its timeout on a busy machine) is a
    warning without its traceback: what failed is tried again, nothing is lost."""
    exc_info = event.get("exc_info")
    exc = sys.exc_info()[1] if exc_info is True else exc_info
    if event.get("level") == "error" and isinstance(exc, StoreSlow):
        del event["exc_info"]
        event.update(level="warning", store=str(exc), retried=True)
    return event


def configure(
    level: str = "info", secrets: Iterable[str | None] = (), readable: bool = False
) -> None:
    """The relay's logs: JSON lines on stdout, secrets scrubbed; `readable`, each a plain
    line instead (`receiver dev`, where they sit among the deliveries it prints)."""
    from receiver.kernel.observability import tracing

    add_secrets(secrets)
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    # With traces exported, each line names the span it was written in.
    traced = [tracing.log_ids] if tracing.enabled() else []
    # Our own lines go straight from structlog to stdout (10 us a line against 29 us through
    # the logging module: at the default level every accepted callback writes one).
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            _slow_store_is_a_warning,
            _downstream_as_read,
            timestamper,
            *traced,
            structlog.processors.format_exc_info,
            _render_read if readable else _render,
        ],
        logger_factory=structlog.WriteLoggerFactory(sys.stdout),
        # A line below the level returns at once, before any processor runs.
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
    # uvicorn's, httpx's and aiohttp's lines come through the logging module: the same
    # shape and the same redaction, from one formatter.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            timestamper,
            *traced,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _render_foreign_read if readable else _render_foreign,
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # httpx logs full request URLs at INFO; Slack and Discord URLs carry secrets.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True


# What a part is given to write its lines with: structlog's bound logger.
Log = FilteringBoundLogger


def get_logger(name: str) -> Log:
    logger: Log = structlog.get_logger(name)
    return logger
