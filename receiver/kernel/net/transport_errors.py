"""One map from what an outgoing HTTP call can raise (aiohttp, asyncio, the OS, SSL, DNS,
IDNA) into the relay's error tree, for every client the relay has: CometAPI's, the fan-out's
and the media fetches' (as httpx's transports map their library's errors in one place).

Each failure gets a `kind` (for metrics and retry decisions) and a reason that is safe to
keep and show: aiohttp's own messages name the URL whole, and a chat webhook's URL is its
credential, so no reason here quotes one.
"""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import aiohttp

from receiver.kernel.errors import RelayError
from receiver.kernel.net.guard import PrivateAddress


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
