"""The one map from what an outgoing call raises into the error tree: every transport
failure becomes the caller's error with a kind and a reason that never quotes the URL; the
relay's own errors and bugs go through untouched."""

from __future__ import annotations

import errno
import socket
import ssl

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from yarl import URL

from receiver.kernel.errors import DownstreamError, MirrorError, UpstreamError
from receiver.kernel.net.guard import PrivateAddress
from receiver.kernel.net.outbound import Failure, failure_of, transport_errors

SECRET_URL = "https://hooks.slack.invalid/services/T000/B000/sekret-token"
KEY = ConnectionKey("hooks.slack.invalid", 443, True, True, None, None, None, None)


def _idna_error() -> UnicodeError:
    try:
        ("a" * 64 + ".example").encode("idna")  # a DNS label over 63 characters
    except UnicodeError as exc:
        return exc
    raise AssertionError("IDNA accepted a 64-character label")


def _refused() -> OSError:
    return ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed " + SECRET_URL)


CASES: list[tuple[Exception, str, str]] = [
    (TimeoutError(), "timeout", "timed out"),
    (aiohttp.ServerTimeoutError(SECRET_URL), "timeout", "timed out"),
    (aiohttp.ConnectionTimeoutError(SECRET_URL), "timeout", "timed out"),
    (PrivateAddress("10.0.0.1 is a private or local address"), "private_address", "refused: "),
    (
        aiohttp.ClientConnectorError(KEY, PrivateAddress("10.0.0.1 is private")),
        "private_address",
        "refused: 10.0.0.1",
    ),
    (
        aiohttp.ClientConnectorDNSError(KEY, socket.gaierror(-2, "Name or service not known")),
        "dns",
        "cannot resolve the host",
    ),
    (socket.gaierror(-2, "Name or service not known"), "dns", "cannot resolve the host"),
    (
        aiohttp.ClientConnectorCertificateError(KEY, ssl.SSLCertVerificationError("bad")),
        "tls",
        "certificate",
    ),
    (ssl.SSLError(1, "wrong version number"), "tls", "TLS handshake"),
    (aiohttp.ClientConnectorError(KEY, _refused()), "connect", "cannot connect: "),
    (_idna_error(), "invalid_url", "host cannot be encoded"),
    (aiohttp.InvalidURL(SECRET_URL), "invalid_url", "cannot be used"),
    (ValueError(f"Host {SECRET_URL} is not valid"), "invalid_url", "cannot be used"),
    (aiohttp.ServerDisconnectedError(), "network", "ServerDisconnectedError"),
    (aiohttp.ClientPayloadError("truncated"), "network", "ClientPayloadError"),
    (
        aiohttp.ClientOSError(errno.ECONNRESET, "reset"),
        "network",
        "ClientOSError: Connection reset",
    ),
    (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), "network", "reset"),
    (
        aiohttp.TooManyRedirects(
            aiohttp.RequestInfo(URL(SECRET_URL), "GET", {}, URL(SECRET_URL)), ()
        ),
        "protocol",
        "TooManyRedirects",
    ),
]


@pytest.mark.parametrize(("raised", "kind", "said"), CASES, ids=lambda c: type(c).__name__)
def test_every_transport_failure_has_a_kind_and_a_safe_reason(
    raised: Exception, kind: str, said: str
) -> None:
    failure = failure_of(raised)
    assert failure is not None and failure.kind == kind
    assert said in failure.reason
    assert "sekret" not in failure.reason and "hooks.slack" not in failure.reason


@pytest.mark.parametrize(("raised", "kind", "said"), CASES, ids=lambda c: type(c).__name__)
def test_the_block_raises_the_callers_error_unchained(
    raised: Exception, kind: str, said: str
) -> None:
    with pytest.raises(DownstreamError) as caught, transport_errors(_as_downstream):
        raise raised
    assert said in caught.value.detail
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def _as_downstream(failure: Failure) -> DownstreamError:
    return DownstreamError(failure.reason)


def test_the_relays_own_errors_go_through_unchanged() -> None:
    own = MirrorError("HTTP 404: the link has expired", "expired", expired=True)
    with pytest.raises(MirrorError) as caught, transport_errors(_as_downstream):
        raise own
    assert caught.value is own


def test_a_bug_is_not_taken_for_a_failed_call() -> None:
    with pytest.raises(KeyError), transport_errors(_as_downstream):
        raise KeyError("a bug")
    assert failure_of(KeyError("a bug")) is None


def test_each_caller_chooses_its_error() -> None:
    def upstream(failure: Failure) -> UpstreamError:
        return UpstreamError(f"CometAPI unreachable: {failure.reason}")

    said = "CometAPI unreachable: cannot connect"
    with pytest.raises(UpstreamError, match=said), transport_errors(upstream):
        raise aiohttp.ClientConnectorError(KEY, _refused())
