"""How the relay's own HTTP clients go out, and what their failures mean.

The proxy is settled once per client from the environment (aiohttp's `trust_env` reads it
and ~/.netrc again on every request, in a thread). What an outgoing call can raise maps into
the relay's error tree here: a `kind` (for metrics and retries) and a reason safe to show,
which never quotes the URL (aiohttp's messages do, and a chat webhook's URL is its
credential).
"""

from __future__ import annotations

import functools
import math
import os
import socket
import ssl
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import certifi

from receiver.kernel.errors import RelayError
from receiver.kernel.net.guard import PrivateAddress

# How long an idle pooled connection is kept for the next request: below the 5 s many
# servers keep one (uvicorn, gunicorn, Node.js). aiohttp's 15 s lets a request go out on a
# connection the server is closing at that moment, and it gets no answer (a reset).
IDLE_KEEPALIVE_SECONDS = 4.0


@functools.cache
def tls_context() -> ssl.SSLContext:
    """Certificates verified against certifi's bundle (what httpx used), loaded once."""
    return ssl.create_default_context(cafile=certifi.where())


def env_proxy(url: str) -> str | None:
    """The proxy HTTP_PROXY / HTTPS_PROXY name for `url`, unless NO_PROXY exempts its host."""
    parts = urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies().get(parts.scheme)


@dataclass(frozen=True)
class Failure:
    """Why one call got no usable answer: `kind` is one of `timeout`, `private_address`,
    `dns`, `tls`, `connect`, `invalid_url`, `protocol`, `network`."""

    kind: str
    reason: str


def _os_reason(exc: OSError) -> str:
    # The errno's own words: an OS error's text may name the address it was connecting to.
    return os.strerror(exc.errno) if exc.errno else type(exc).__name__


def failure_of(exc: Exception) -> Failure | None:
    """What `exc` means for the call that raised it; None when it is no transport failure
    (a bug, or an error the relay raised on purpose)."""
    import aiohttp  # loaded already by the call that raised `exc`

    # Most specific first: several aiohttp errors are also OSError, ValueError or
    # TimeoutError.
    if isinstance(exc, PrivateAddress):
        return Failure("private_address", f"refused: {exc}")  # it names the host alone
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, PrivateAddress):
        return Failure("private_address", f"refused: {exc.os_error}")
    if isinstance(exc, TimeoutError):
        return Failure("timeout", "timed out")
    if isinstance(exc, aiohttp.ClientConnectorDNSError | socket.gaierror):
        return Failure("dns", "cannot resolve the host")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return Failure("tls", "the server's TLS certificate was refused")
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return Failure("tls", "the TLS handshake failed")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Failure("connect", f"cannot connect: {_os_reason(exc.os_error)}")
    if isinstance(exc, UnicodeError):
        # IDNA refuses the host (a label over 63 characters, a character it cannot encode).
        return Failure("invalid_url", "the URL's host cannot be encoded")
    if isinstance(exc, aiohttp.InvalidURL):
        return Failure("invalid_url", "the URL cannot be used")
    if isinstance(exc, aiohttp.ClientResponseError):
        return Failure("protocol", f"{type(exc).__name__}: {exc.message}")
    if isinstance(exc, aiohttp.ClientOSError):
        return Failure("network", f"{type(exc).__name__}: {_os_reason(exc)}")
    if isinstance(exc, aiohttp.ClientError):
        return Failure("network", type(exc).__name__)
    if isinstance(exc, OSError):
        return Failure("network", _os_reason(exc))
    if isinstance(exc, ValueError):
        return Failure("invalid_url", "the URL cannot be used")  # yarl's refusals
    return None


@contextmanager
def transport_errors(into: Callable[[Failure], RelayError]) -> Iterator[None]:
    """Raise what the block raised while calling out as `into(failure)`; the relay's own
    errors and anything else (a bug) go through unchanged. The original is dropped, not
    chained: its message may carry the URL."""
    try:
        yield
    except RelayError:
        raise
    except Exception as exc:
        failure = failure_of(exc)
        if failure is None:
            raise
        raise into(failure) from None


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds asked for by a Retry-After header (delta-seconds or an HTTP date); None when
    it says nothing readable. It may be huge or infinite: each caller caps it."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError, OverflowError):
            return None
    return None if math.isnan(seconds) else max(0.0, seconds)
