"""The abuse protection of CloudEvents' "HTTP 1.1 Web Hooks" (section 4): before a webhook
downstream's first CloudEvent, the relay asks the endpoint with `OPTIONS`; an answer that
allows the relay's origin lets deliveries go, at most `WebHook-Allowed-Rate` a minute.

An answer is read strictly: a rate is `*` or a positive finite number up to
`MAX_RATE_PER_MINUTE`, anything else a refusal in words. No answer that says (the
connection, a timeout, a 5xx, 408, 425 or 429) is no verdict at all: a failed attempt,
tried again on the delivery's schedule."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping

from receiver.destinations.http import Route, judge_target
from receiver.destinations.publishing import undelivered
from receiver.kernel.errors import DownstreamError
from receiver.kernel.net.outbound import retry_after, transport_errors
from receiver.outbox.rules.delivery import NOT_VALIDATED, Answer, Verdict, retryable

# The most requests a minute an endpoint's answer may allow (a thousand a second, more than
# a lane sends): past it a number says nothing the relay could keep to, and `1e400` is an
# infinity that breaks the delivery budget's arithmetic.
MAX_RATE_PER_MINUTE = 60_000.0
_NUMBER = frozenset("0123456789.eE+")  # float() alone takes `nan`, `inf` and `1_0`
_SHOWN = 40  # of an answer's value quoted in a refusal
ASKING = "its OPTIONS (the CloudEvents webhook handshake)"


def allowed_rate(value: str) -> float | None:
    """The requests a minute a `WebHook-Allowed-Rate` value allows (None: `*`, any);
    ValueError, in words, for anything else."""
    if value == "*":
        return None
    rate = float(value) if value and set(value) <= _NUMBER and value.count(".") < 2 else -1.0
    if math.isfinite(rate) and 0 < rate <= MAX_RATE_PER_MINUTE:
        return rate
    raise ValueError(
        f"WebHook-Allowed-Rate {value[:_SHOWN]!r} is not a rate: `*` or a number of requests"
        f" a minute above 0, at most {MAX_RATE_PER_MINUTE:.0f}"
    )


def verdict(status: int, headers: Mapping[str, str], origin: str) -> Verdict:
    """The answer to the handshake read by section 4.1.2: a 2xx whose
    `WebHook-Allowed-Origin` is `origin` or `*`; its `WebHook-Allowed-Rate` a rate or `*`
    (none said: any)."""
    lowered = {name.lower(): value.strip() for name, value in headers.items()}
    allowed = lowered.get("webhook-allowed-origin")
    if not 200 <= status < 300:
        return Verdict(False, f"{NOT_VALIDATED}: {ASKING} answered HTTP {status}")
    if allowed is None:
        return Verdict(False, f"{NOT_VALIDATED}: its answer has no WebHook-Allowed-Origin")
    if allowed not in ("*", origin):
        shown = allowed[:_SHOWN]
        return Verdict(
            False, f"{NOT_VALIDATED}: WebHook-Allowed-Origin is {shown!r}, not {origin!r}"
        )
    try:
        per_minute = allowed_rate(lowered.get("webhook-allowed-rate", "*"))
    except ValueError as exc:
        return Verdict(False, f"{NOT_VALIDATED}: {exc}")
    return Verdict(True, per_minute=per_minute)


async def ask(route: Route, url: str, origin: str, timeout: float) -> Verdict | Answer:
    """The handshake's `OPTIONS` to `url`, with no body (so no content type): its verdict,
    or, with none (see the module's words), the failed attempt's Answer."""
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
                    if retryable(answer.status):
                        wait = retry_after(answer.headers.get("Retry-After"), time.time())
                        failure = f"{ASKING} answered HTTP {answer.status}"
                        return Answer(answer.status, failure, wait)
                    return verdict(answer.status, dict(answer.headers), origin)
    except TimeoutError:
        return Answer(failure=f"{ASKING} timed out after {timeout:g}s")
    except DownstreamError as exc:
        return Answer(failure=f"{ASKING}: {exc.detail}")
