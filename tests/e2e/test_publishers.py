"""The HTTP destinations' publisher alone, as the fan-out opens it through the registry,
against a loopback aiohttp server: the message sent as shaped (its path after the URL, its
headers, or a task's own URL), and each answer read into the Outcome the retry rules judge
(a status, Retry-After, an abort, Telegram's posted message, no answer in time)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from receiver.config import DownstreamConfig
from receiver.destinations.http import Route
from receiver.destinations.publishing import Message, Opening, Outcome
from receiver.destinations.registry import open_publisher
from receiver.outbox.rules.delivery import RetryPolicy, decide
from tests.testkit import free_port

POLICY = RetryPolicy((1.0, 5.0), 0.0, 60.0)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Set once the message is answered (or not): a handler still waiting is let go.
DONE = web.AppKey("done", asyncio.Event)


def _sent(
    handler: Handler, fmt: str = "webhook", path: str = "", timeout: float = 5.0, own: bool = False
) -> tuple[Outcome, list[dict[str, Any]]]:
    """One message published to a `fmt` downstream at a loopback server that answers with
    `handler`; what came back, and what the server saw. `own`: to a task's own URL."""
    seen: list[dict[str, Any]] = []

    async def heard(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        seen.append({"path": request.path, "headers": dict(request.headers), "body": body})
        return await handler(request)

    async def run() -> Outcome:
        app = web.Application()
        app[DONE] = asyncio.Event()
        app.router.add_post("/{path:.*}", heard)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        base = f"http://127.0.0.1:{port}"
        url = f"{base}/bot1:x/?chat_id=5" if fmt == "telegram" else f"{base}/hooks/a"
        settings = DownstreamConfig.model_validate(
            {"name": "d", "format": fmt, "url": url, "timeout": timeout}
        )

        def route() -> Route:
            return Route(aiohttp.ClientSession, None, judged=False)

        publisher = open_publisher(settings, Opening("d", 1, route=route))
        headers = {"webhook-id": "dlv_1", "x-static": "1"}
        message = Message("dlv_1", b'{"a":1}', {}, headers, path=path)
        if own:
            message = Message("dlv_1", b"{}", {}, {}, url=f"{base}/tasks/own")
        try:
            return await publisher.publish(message)
        finally:
            app[DONE].set()
            await publisher.close()
            await runner.cleanup()

    return asyncio.run(run()), seen


async def _ok(request: web.Request) -> web.StreamResponse:
    return web.Response(text="thanks")


def test_a_message_goes_as_shaped_and_a_2xx_succeeds() -> None:
    outcome, [seen] = _sent(_ok)
    assert decide(POLICY, 1, outcome.answer, 0.0).outcome == "succeeded"
    assert outcome.answer.status == 200 and outcome.excerpt == "thanks"
    assert seen["path"] == "/hooks/a" and seen["body"] == b'{"a":1}'
    assert seen["headers"]["webhook-id"] == "dlv_1" and seen["headers"]["x-static"] == "1"


def test_a_tasks_own_webhook_goes_to_its_own_url() -> None:
    _, [seen] = _sent(_ok, own=True)
    assert seen["path"] == "/tasks/own"


def test_retry_after_stretches_the_wait() -> None:
    async def busy(request: web.Request) -> web.StreamResponse:
        return web.Response(status=503, text="busy", headers={"Retry-After": "30"})

    outcome, _ = _sent(busy)
    assert outcome.answer.status == 503 and outcome.answer.retry_after == 30
    assert outcome.answer.failure == "HTTP 503: busy"
    decision = decide(POLICY, 1, outcome.answer, 0.0)
    assert decision.outcome == "retry" and decision.next_attempt_at >= 30


def test_an_abort_stops_the_retries() -> None:
    async def abort(request: web.Request) -> web.StreamResponse:
        return web.Response(status=500, headers={"webhook-delivery": "abort-message"})

    outcome, _ = _sent(abort)
    assert outcome.answer.abort
    assert decide(POLICY, 1, outcome.answer, 0.0).outcome == "dead"


def test_telegrams_posted_message_comes_back_for_later_edits() -> None:
    async def made(request: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": True, "result": {"message_id": 42}})

    outcome, [seen] = _sent(made, fmt="telegram", path="/sendMessage")
    assert seen["path"] == "/bot1:x/sendMessage"
    assert outcome.posted == ("42", False)


def test_no_answer_in_time_is_a_failure() -> None:
    async def silent(request: web.Request) -> web.StreamResponse:
        await request.app[DONE].wait()
        return web.Response(text="too late")

    outcome, _ = _sent(silent, timeout=0.2)
    assert outcome.answer.status is None
    assert outcome.answer.failure == "timed out after 0.2s"
