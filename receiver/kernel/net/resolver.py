"""aiohttp's resolver, refusing every non-public answer (the rule: guard.py). A module of
its own because it subclasses aiohttp's: guard.py is imported where no session is, and a
relay's start does without aiohttp."""

from __future__ import annotations

import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from receiver.kernel.net.guard import PrivateAddress, is_public


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


def resolver_for(allow_private_networks: bool) -> Any:
    return DefaultResolver() if allow_private_networks else PublicOnlyResolver()
