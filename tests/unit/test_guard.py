"""The private-address rule judges an address however it is spelled."""

from __future__ import annotations

import asyncio

import pytest

from receiver.kernel.errors import InvalidRequest
from receiver.kernel.net.guard import (
    BadHost,
    PrivateAddress,
    Unresolvable,
    check_api_url,
    check_host,
    check_resolved,
    is_public,
    literal_address,
)
from receiver.tasks.submit import validate

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("[::1]", "::1"),
        ("8.8.8.8", "8.8.8.8"),
        ("example.com", None),
        ("1.2.3.4.5", None),
    ],
)
def test_every_spelling_of_an_address_is_read(host: str, address: str | None) -> None:
    assert literal_address(host) == address


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::7f00:1",
        "2002:7f00:1::",
        "::7f00:1",
        "::ffff:10.0.0.1",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",
    ],
)
def test_ipv6_carrying_a_private_ipv4_is_private(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::", "8.8.8.8"])
def test_ipv6_carrying_a_public_ipv4_is_public(address: str) -> None:
    assert is_public(address)


@pytest.mark.parametrize("host", ["a" * 64 + ".com", "abc." * 70 + "com", "999.1.1.1", "", "a..b"])
def test_hosts_no_client_can_encode_are_refused(host: str) -> None:
    with pytest.raises(BadHost):
        check_host(host)


@pytest.mark.parametrize("host", ["2130706433", "[::ffff:127.0.0.1]", "localhost", "x.localhost"])
def test_local_hosts_are_refused(host: str) -> None:
    with pytest.raises(PrivateAddress):
        check_host(host)


@pytest.mark.parametrize(
    "url",
    ["https://[2606:4700::1111]/hook", "http://[2606:4700::1111]:8443/a?b=c", "https://[::1]/h"],
)
def test_an_ipv6_literal_is_a_url_and_the_guard_judges_its_address(url: str) -> None:
    request = validate({"kind": "text_to_image", "model": "m", "webhook": url})
    assert request.webhook == url
    if "::1]" in url:
        with pytest.raises(InvalidRequest, match="private or local"):
            check_api_url(url, "webhook")
    else:
        check_api_url(url, "webhook")


@pytest.mark.parametrize(
    "url", ["https://[2606:4700::1111/hook", "https://[zz::1]/hook", "https://[]/hook"]
)
def test_a_broken_bracketed_host_is_no_url(url: str) -> None:
    with pytest.raises(InvalidRequest, match="webhook: must be an https or http URL"):
        validate({"kind": "text_to_image", "model": "m", "webhook": url})


def test_a_name_no_resolver_answers_is_refused_only_when_a_proxy_would_resolve_it() -> None:
    """`.invalid` never resolves (RFC 6761): judged without asking any DNS server. A
    client connecting by itself fails at resolution and says so; a proxy would resolve it
    in its own network, unjudged, so there it is refused."""
    asyncio.run(check_resolved("vault.corp.invalid"))
    with pytest.raises(Unresolvable, match=r"vault\.corp\.invalid does not resolve here"):
        asyncio.run(check_resolved("vault.corp.invalid", proxied=True))
    asyncio.run(check_resolved("8.8.8.8", proxied=True))  # an address is never resolved
    with pytest.raises(PrivateAddress):
        asyncio.run(check_resolved("10.0.0.9", proxied=True))
