"""One exception hierarchy for the package.

Every refusal the relay can give is a `RelayError` with the HTTP status and the
machine-readable code it maps to; the application turns them into JSON answers in one place
(`receiver.web.app`), and the CLI prints their message as one line. The message is always safe
to show: it never carries a secret or a stack trace.
"""

from __future__ import annotations


class RelayError(Exception):
    """Base of every error the relay raises on purpose."""

    status = 500
    code = "internal"

    def __init__(self, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra  # more fields for the JSON answer


class BadRequest(RelayError):
    status, code = 400, "bad_request"


class Unauthorized(RelayError):
    status, code = 401, "unauthorized"


class Forbidden(RelayError):
    status, code = 403, "forbidden"


class NotFound(RelayError):
    status, code = 404, "not_found"


class Conflict(RelayError):
    status, code = 409, "conflict"


class RequestTimeout(RelayError):
    status, code = 408, "request_timeout"


class TooLarge(RelayError):
    status, code = 413, "too_large"


class InvalidRequest(RelayError):
    """The request breaks a documented limit; the message names every offending field."""

    status, code = 422, "invalid_request"


class UpstreamError(RelayError):
    """CometAPI refused, failed or did not answer; the message is CometAPI's when it gave one."""

    status, code = 502, "upstream_error"

    def __init__(
        self,
        message: str,
        upstream_status: int | None = None,
        timeout: bool = False,
        **extra: object,
    ) -> None:
        super().__init__(message, **extra)
        self.message = message
        self.upstream_status = upstream_status
        self.timeout = timeout
        if timeout:
            self.status = 504


class StoreError(RelayError):
    """The store could not be opened, reached or written; one line saying why."""

    status, code = 503, "unavailable"


class ConfigError(RelayError):
    """A bad or incomplete configuration: one line naming the key and why."""
