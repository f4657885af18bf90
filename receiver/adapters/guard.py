"""Downloads go to public addresses only (unless configured otherwise).

The check is made on the addresses the connection is about to use, after DNS resolution
and for every hop of a redirect, so a name that resolves to 127.0.0.1, or a public URL that
redirects to a private one, is refused all the same.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver


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
