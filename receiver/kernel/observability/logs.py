"""Structured JSON logs on stdout, with secrets scrubbed from every line.

Our own lines and those of uvicorn and httpx go through one structlog formatter, so they
share the JSON shape and the redaction. Redaction is the last step, on the rendered line: a
secret that slips into a message, an exception, a URL or a key is still cut out.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

import orjson

# structlog's package imports its console renderer (structlog.dev), which imports rich for
# its tracebacks wherever rich is installed (25 ms of a start). The relay renders JSON and
# never uses that renderer: rich is hidden while structlog loads, unless already loaded.
_HIDE_RICH = "rich" not in sys.modules
if _HIDE_RICH:
    sys.modules["rich"] = None  # type: ignore[assignment]
try:
    import structlog
    from structlog.typing import EventDict, WrappedLogger
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


class _Redactor:
    def __init__(self) -> None:
        self.secrets: tuple[str, ...] = ()

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, _REDACTED)
        # The substring tests are cheap and skip the regexes for almost every value.
        if "/callbacks/runway/" in text:
            text = _CALLBACK_PATH.sub(r"\1" + _REDACTED, text)
        return _TOKEN.sub(_REDACTED, text) if "eyJ" in text else text


_redactor = _Redactor()


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
    # A line is scrubbed as rendered: a secret holding a quote or a backslash is there as
    # JSON escapes it.
    return spellings | {orjson.dumps(spelling).decode()[1:-1] for spelling in spellings}


def add_secrets(secrets: Iterable[str | None]) -> None:
    """Values that must never appear in a log line, in any of their spellings. Start-up
    refuses tokens and keys under 16 characters; shorter strings here would over-match."""
    known = set(_redactor.secrets)
    for secret in secrets:
        if secret and len(secret) >= 8:
            known |= {s for s in _spellings(secret) if len(s) >= 8}
    # Longest first, so a secret that contains another is removed whole.
    _redactor.secrets = tuple(sorted(known, key=len, reverse=True))


def forget_secrets(secrets: Iterable[str]) -> None:
    """Values replaced by others (an OAuth2 token by the next): no longer searched for, so
    that a long-running process does not search for every token it ever held."""
    gone = {s for secret in secrets for s in _spellings(secret)}
    _redactor.secrets = tuple(s for s in _redactor.secrets if s not in gone)


def scrub(text: str, limit: int | None = None) -> str:
    """`text` with every known secret cut out, then cut to `limit` characters: in this
    order, for a secret cut in half would no longer be recognised. For what is stored or
    answered (log lines are scrubbed on their own); give it more than it will keep, at
    least `limit` plus the longest secret, so a secret across the end is still whole."""
    scrubbed = _redactor.scrub(text)
    return scrubbed if limit is None else scrubbed[:limit]


def _unencodable(value: Any) -> str:
    # An exception's words, as its message reads; anything else orjson cannot encode, as
    # structlog's JSON renderer shows it.
    return str(value) if isinstance(value, BaseException) else repr(value)


def _render(logger: WrappedLogger, method: str, event: EventDict) -> str:
    """The line in JSON, then every secret cut out of it: one pass over the whole line
    (keys, values, an exception's text) rather than one per value."""
    return _redactor.scrub(orjson.dumps(event, default=_unencodable).decode())


def configure(level: str = "info", secrets: Iterable[str | None] = ()) -> None:
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
            timestamper,
            *traced,
            structlog.processors.format_exc_info,
            _render,
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
            _render,
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


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
