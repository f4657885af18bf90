"""One exception hierarchy for the package, named by what went wrong.

What an outgoing call raises is mapped into it in one place (`receiver.kernel.net.outbound`);
the web layer chooses each answer's status in one place (`receiver.kernel.http.errors`), and
the CLI prints the message as one line. A message is always safe to show: it never carries a
secret or a stack trace.
"""

from __future__ import annotations


class RelayError(Exception):
    """Base of every error the relay raises on purpose."""

    def __init__(self, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra  # more fields for the answer


class ConfigError(RelayError):
    """A bad or incomplete configuration: one line naming the key and why."""


class RequestRejected(RelayError):
    """The request cannot be served as it was sent; repeating it will not help."""


class MalformedRequest(RequestRejected):
    """The request cannot be read: not JSON, a parameter of the wrong form, a bad form."""


class ParseError(MalformedRequest):
    """A body in CometAPI's formats (a callback, an answer) that cannot be read."""


class InvalidRequest(RequestRejected):
    """The request breaks a documented limit; the message names every offending field."""


class BodyTooLarge(RequestRejected):
    """The request's body is over the size limit. `rest_unread`: what was left of it was
    not all read (too much, or too slow), so the connection cannot carry another request."""

    rest_unread: bool = True


class BodyTooSlow(RequestRejected):
    """The request's body did not arrive within its deadline."""


class NotAuthenticated(RequestRejected):
    """No credentials, or wrong ones."""


class NotAllowed(RequestRejected):
    """Credentials that do not cover this request."""


class NotFound(RequestRejected):
    """No such thing."""


class Conflict(RequestRejected):
    """The thing's present state forbids the request."""


class LimitReached(RequestRejected):
    """The caller's own limit is reached (an API key's `max_queued` or `max_per_day`):
    `limit` names it, `retry_after` is when to ask again, in whole seconds."""

    def __init__(self, detail: str, limit: str, retry_after: int) -> None:
        super().__init__(detail, limit=limit)
        self.limit = limit
        self.retry_after = retry_after


class UpstreamError(RelayError):
    """CometAPI refused, failed or did not answer; the message is CometAPI's when it gave one."""

    def __init__(
        self,
        message: str,
        upstream_status: int | None = None,
        retry_after: float | None = None,
        **extra: object,
    ) -> None:
        super().__init__(message, **extra)
        self.message = message
        self.upstream_status = upstream_status
        self.retry_after = retry_after  # seconds CometAPI asked the relay to wait, if it did


class UpstreamTimeout(UpstreamError):
    """CometAPI did not answer in time: it may still have acted on the request."""


class StoreError(RelayError):
    """The store could not be opened, reached or written; one line saying why."""


class StoreSlow(StoreError):
    """The store answered later than its timeout (a busy machine, a long lock). What asked
    is tried again (its loop's next turn, CometAPI's retry, a lease that runs out): logged
    as a warning, never an error (receiver/kernel/observability/logs.py)."""


class WorkerDown(RelayError):
    """A background worker of this process raised and waits to be started again
    (receiver/kernel/supervisor.py): the process is not ready meanwhile."""


class DownstreamError(RelayError):
    """A downstream refused a delivery or cannot be reached: the delivery is retried, then
    dead-lettered, with this as its reason."""


class MirrorError(RelayError):
    """A file of a finished render could not be copied; `kind` for metrics, `expired` when
    CometAPI may give a fresh link, `final` when trying again cannot help."""

    def __init__(self, reason: str, kind: str, expired: bool = False, final: bool = False):
        super().__init__(reason)
        self.reason, self.kind, self.expired, self.final = reason, kind, expired, final


class Overloaded(RelayError):
    """A limit on what this process serves at once is reached (open live streams, overall or
    from one client): try again later, `retry_after` whole seconds being a fair guess."""

    retry_after = 5
