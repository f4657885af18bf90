"""The abuse protection of CloudEvents' "HTTP 1.1 Web Hooks" (section 4): before a webhook
downstream's first CloudEvent, the relay asks the endpoint with `OPTIONS`; an answer that
allows the relay's origin lets deliveries go, at most `WebHook-Allowed-Rate` a minute."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from receiver.deliveries.rules.delivery import NOT_VALIDATED
from receiver.destinations.http import Route, judge_target
from receiver.destinations.publishing import undelivered
from receiver.kernel.errors import DownstreamError
from receiver.kernel.net.outbound import transport_errors


@dataclass(frozen=True)
class Verdict:
    """What the endpoint answered: allowed (`per_minute`: None, no limit), or not, and why."""

    allowed: bool
    reason: str = ""
    per_minute: float | None = None

    @property
    def per_second(self) -> float | None:
        return None if self.per_minute is None else self.per_minute / 60


def verdict(status: int, headers: Mapping[str, str], origin: str) -> Verdict:
    """The answer to the handshake read by section 4.1.2: a 2xx whose
    `WebHook-Allowed-Origin` is `origin` or `*`; its `WebHook-Allowed-Rate` a number or `*`."""
    lowered = {name.lower(): value.strip() for name, value in headers.items()}
    allowed = lowered.get("webhook-allowed-origin")
    if not 200 <= status < 300:
        return Verdict(False, f"{NOT_VALIDATED}: its OPTIONS answered HTTP {status}")
    if allowed is None:
        return Verdict(False, f"{NOT_VALIDATED}: its answer has no WebHook-Allowed-Origin")
    if allowed not in ("*", origin):
        return Verdict(
            False, f"{NOT_VALIDATED}: WebHook-Allowed-Origin is {allowed!r}, not {origin!r}"
        )
    rate = lowered.get("webhook-allowed-rate", "*")
    try:
        per_minute = None if rate == "*" else float(rate)
    except ValueError:
        per_minute = None
    if per_minute is not None and per_minute <= 0:
        per_minute = None
    return Verdict(True, per_minute=per_minute)


async def ask(route: Route, url: str, origin: str, timeout: float) -> Verdict:
    """The handshake's `OPTIONS` to `url`; a transport failure is a refusal, in words."""
    headers = {"WebHook-Request-Origin": origin}
    if route.authorization is not None:
        headers["Authorization"] = route.authorization
    try:
        async with asyncio.timeout(timeout):
            with transport_errors(undelivered):
                if route.judged:
                    await judge_target(url, route.proxy is not None, route.proxy_names)
                async with route.session.request(
                    "OPTIONS", url, headers=headers, allow_redirects=False, proxy=route.proxy
                ) as answer:
                    return verdict(answer.status, dict(answer.headers), origin)
    except TimeoutError:
        return Verdict(False, f"{NOT_VALIDATED}: its OPTIONS timed out after {timeout:g}s")
    except DownstreamError as exc:
        return Verdict(False, f"{NOT_VALIDATED}: {exc.detail}")
