"""Downloads go to public addresses only (unless configured otherwise).

The check is made on the addresses the connection is about to use, after DNS resolution
and for every hop of a redirect, so a name that resolves to 127.0.0.1, or a public URL that
redirects to a private one, is refused all the same.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from receiver.errors import InvalidRequest


class PrivateAddress(OSError):
    """The host resolves to an address this relay may not fetch from."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return ip.is_global and not ip.is_multicast


def check_literal(host: str) -> None:
    """An address written into the URL is never resolved (aiohttp connects to it as it is),
    so it is checked here; a name is checked by the resolver."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return  # a name
    if not is_public(host.strip("[]")):
        raise PrivateAddress(f"{host} is a private or local address")


def check_host(host: str) -> None:
    """A URL's host that came through the API, before anything is sent: no private,
    loopback, link-local, multicast or metadata address written into it, and no name that
    is local by definition. Names are checked again after DNS, by the resolver below."""
    check_literal(host)
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        raise PrivateAddress(f"{host} is a local name")


def check_api_url(url: str, field: str) -> None:
    """`check_host` for a URL in a request: a 422 naming `field`, before anything is stored."""
    try:
        check_host(urlsplit(url).hostname or "")
    except PrivateAddress as exc:
        raise InvalidRequest(f"{field}: {exc}; it must be a public address") from None


async def check_resolved(host: str) -> None:
    """A name's every address public, for a client that resolves by itself (a broker's): the
    check comes before it connects, as close to that as the relay can get."""
    check_host(host)
    loop = asyncio.get_running_loop()
    try:
        answers = await loop.getaddrinfo(host.strip("[]"), None, type=socket.SOCK_STREAM)
    except OSError:
        return  # unresolvable: the client's own connection fails and says so
    if any(not is_public(str(info[4][0])) for info in answers):
        raise PrivateAddress(f"{host} resolves to a private or local address")


class PublicOnlyResolver(AbstractResolver):
    """aiohttp's resolver, refusing every non-public answer."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        refused = [a["host"] for a in answers if not is_public(a["host"])]
        if refused:
            raise PrivateAddress(f"{host} resolves to a private or local address")
        return answers

    async def close(self) -> None:
        await self._inner.close()


def resolver(allow_private_networks: bool) -> Any:
    return DefaultResolver() if allow_private_networks else PublicOnlyResolver()
