"""Downloads go to public addresses only (unless configured otherwise).

The check is made on the addresses the connection is about to use, after DNS resolution
and for every hop of a redirect, so a name that resolves to 127.0.0.1, or a public URL that
redirects to a private one, is refused all the same.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from typing import Any
from urllib.parse import urlsplit

import idna

from receiver.kernel.errors import InvalidRequest


class PrivateAddress(OSError):
    """The host resolves to an address this relay may not fetch from."""


class BadHost(PrivateAddress):
    """The host is no name or address any client could connect to."""


class Unresolvable(PrivateAddress):
    """The relay cannot resolve the name, so it cannot judge it: a proxy would resolve it
    past the guard."""


MAX_HOST = 253
# Every spelling of an IPv4 address the C resolver reads (and so a client connects to): one
# to four parts, each decimal, octal (a leading 0) or hex (0x), such as 2130706433, 127.1 or
# 0x7f.0.0.1. WHATWG's URL standard reads them alike.
_IPV4_PARTS = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.IGNORECASE)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public(address: str) -> bool:
    """An address that is global and no multicast, judged by the IPv4 address an IPv6 one
    carries when it carries one (mapped, compatible, NAT64, 6to4, Teredo): those reach the
    IPv4 address through a gateway."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        ip = embedded
    return ip.is_global and not ip.is_multicast


def _embedded_ipv4(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    low = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _NAT64:
        return low
    if int(ip) >> 32 == 0 and int(ip) > 1:  # IPv4-compatible (::a.b.c.d), not :: or ::1
        return low
    return None


def literal_address(host: str) -> str | None:
    """The address a host written as one stands for, in its plain form (an IPv4 address in
    any spelling the resolver reads, or an IPv6 one in brackets or not); None: a name."""
    bare = host.strip("[]")
    try:
        return str(ipaddress.ip_address(bare.split("%", 1)[0]))
    except ValueError:
        pass
    if _IPV4_PARTS.match(bare):
        try:
            return socket.inet_ntoa(socket.inet_aton(bare.rstrip(".")))
        except OSError:
            raise BadHost(f"{host} is not a valid address") from None
    return None


def check_literal(host: str) -> None:
    """An address written into the URL is never resolved (aiohttp connects to it as it is),
    so it is checked here; a name is checked by the resolver."""
    address = literal_address(host)
    if address is not None and not is_public(address):
        raise PrivateAddress(f"{host} is a private or local address")


def check_name(host: str) -> None:
    """A host every client can encode (IDNA, as yarl and the brokers' clients do): labels of
    at most 63 characters, at most 253 in all."""
    if literal_address(host) is not None:
        return
    try:
        encoded = idna.encode(host.rstrip("."), uts46=True)
    except (idna.IDNAError, UnicodeError) as exc:
        raise BadHost(f"{host[:80]} is not a valid host name ({exc})") from None
    if len(encoded) > MAX_HOST:
        raise BadHost(f"{host[:80]}... is longer than {MAX_HOST} characters")


def check_host(host: str) -> None:
    """A URL's host that came through the API, before anything is sent: a name every client
    can encode, no private, loopback, link-local, multicast or metadata address written
    into it in any spelling, and no name that is local by definition. Names are checked
    again after DNS, by the resolver below."""
    if not host:
        raise BadHost("the URL has no host")
    check_name(host)
    check_literal(host)
    if _in_domain(host, "localhost"):
        raise PrivateAddress(f"{host} is a local name")


def _in_domain(host: str, domain: str) -> bool:
    name = host.lower().rstrip(".")
    return name == domain or name.endswith(f".{domain}")


def check_api_url(url: str, field: str, allow_private: bool = False) -> None:
    """`check_host` for a URL in a request (only `check_name` when private addresses are
    allowed): a 422 naming `field`, before anything is stored."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError as exc:
        raise InvalidRequest(f"{field}: not a URL ({exc})") from None
    try:
        check_name(host) if allow_private else check_host(host)
    except BadHost as exc:
        raise InvalidRequest(f"{field}: {exc}") from None
    except PrivateAddress as exc:
        raise InvalidRequest(
            f"{field}: {exc}; it must be a public address (an operator who runs the relay"
            " and its endpoints on one network allows private ones with"
            " delivery.allow_private_networks = true)"
        ) from None


async def check_resolved(host: str, proxied: bool = False) -> None:
    """A name's every address public, for a client that resolves by itself (a broker's, a
    proxy): the check comes before it connects, as close to that as the relay can get. A
    name the relay cannot resolve fails the client's own connection, which says so; but
    `proxied`, the proxy would resolve it, unjudged: Unresolvable."""
    check_host(host)
    if literal_address(host) is not None:
        return  # checked above, and never resolved
    try:
        if _in_domain(host, "invalid"):  # no resolver answers it (RFC 6761): none is asked
            raise OSError("never resolves")
        loop = asyncio.get_running_loop()
        answers = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        if proxied:
            raise Unresolvable(
                f"{host} does not resolve here, and the proxy would resolve it unjudged"
                " (unless delivery.proxy_names allows the name)"
            ) from None
        return
    if any(not is_public(str(info[4][0])) for info in answers):
        raise PrivateAddress(f"{host} resolves to a private or local address")


def resolver(allow_private_networks: bool) -> Any:
    """The resolver for a session's connector (resolver.py): aiohttp's own, or one that
    refuses every non-public answer."""
    from receiver.kernel.net.resolver import resolver_for  # with aiohttp, where it is used

    return resolver_for(allow_private_networks)
