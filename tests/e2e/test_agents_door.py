"""The agents' door (/mcp) with the official MCP client over Streamable HTTP, against a
running relay and the simulator, on both backends: each key lists only the tools its scopes
allow, submits an image and a video task, waits with progress, shares, cancels, meets its
limits as tool errors, cannot see another key's task, and is refused once revoked."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from tests.conftest import MakeRelay
from tests.harness import Relay, image_to_video, whole_answer

ALL_TASKS = ["tasks:submit", "tasks:read", "tasks:cancel"]
TASK_TOOLS = {
    "submit_task",
    "get_task",
    "wait_for_task",
    "list_tasks",
    "cancel_task",
    "share_task",
}
# Long enough that no task of these tests ends by itself while they run.
SLOW = "queue=60 run=600"


def make_key(relay: Relay, name: str, scopes: list[str], **limits: int) -> str:
    made = relay.api.post("/v1/keys", json={"name": name, "scopes": scopes, **limits})
    assert made.status_code == 201, made.text
    return str(made.json()["key"])


@asynccontextmanager
async def connected(relay: Relay, key: str) -> AsyncIterator[ClientSession]:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
    async with (
        http,
        streamable_http_client(f"{relay.url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def messages(exc: BaseException) -> str:
    """Every message in an error, through the task groups' exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        return " | ".join(messages(e) for e in exc.exceptions)
    return str(exc)


def run(story: Callable[[], Awaitable[None]]) -> None:
    anyio.run(story)


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """A tool's structured answer; fails on a tool error."""
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def refused(session: ClientSession, tool: str, **arguments: Any) -> tuple[str, Any]:
    """A tool error's text and structured answer."""
    result = await session.call_tool(tool, arguments)
    assert result.is_error, result.content
    text = result.content[0]
    assert text.type == "text"
    return text.text, result.structured_content


def test_each_key_lists_only_the_tools_its_scopes_allow(make_relay: MakeRelay) -> None:
    relay = make_relay()
    reader = make_key(relay, "reader", ["tasks:read"])
    worker = make_key(relay, "worker", ALL_TASKS)
    operator = make_key(relay, "operator", ["downstreams"])
    admin = make_key(relay, "admin", ["admin"])

    async def story() -> None:
        listed: dict[str, set[str]] = {}
        keys = {"reader": reader, "worker": worker, "ops": operator, "admin": admin}
        for name, key in keys.items():
            async with connected(relay, key) as session:
                listed[name] = {t.name for t in (await session.list_tools()).tools}
                if name == "reader":
                    # A tool it may not call does not exist for it.
                    text, _ = await refused(session, "submit_task", request=image_to_video())
                    assert "no tool named" in text
        assert listed["reader"] == {"get_task", "wait_for_task", "list_tasks", "share_task"}
        assert listed["worker"] == TASK_TOOLS
        # An app's deliveries are read with `downstreams` (GET /v1/deliveries): so here.
        assert listed["ops"] == {"list_deliveries", "replay_delivery"}
        assert listed["admin"] == TASK_TOOLS | {"list_deliveries", "replay_delivery"}

    run(story)


def test_submit_an_image_and_a_video_wait_with_progress_and_share(make_relay: MakeRelay) -> None:
    relay = make_relay()
    key = make_key(relay, "agent", ALL_TASKS)

    async def story() -> None:
        async with connected(relay, key) as session:
            video = await call(
                session, "submit_task", request=image_to_video(promptText="queue=1 run=3")
            )
            assert video["state"] == "queued" and video["output_type"] == "video"
            image = await call(
                session,
                "submit_task",
                request={"kind": "text_to_image", "model": "gen4_image", "promptText": "a cat"},
            )
            assert image["output_type"] == "image"

            steps: list[tuple[float, float | None, str | None]] = []

            async def progress(value: float, total: float | None, message: str | None) -> None:
                steps.append((value, total, message))

            ended = await session.call_tool(
                "wait_for_task",
                {"task_id": video["id"], "timeout_seconds": 60},
                progress_callback=progress,
            )
            assert not ended.is_error, ended.content
            done = ended.structured_content
            assert isinstance(done, dict)
            assert done["state"] == "succeeded", done
            assert done["outputs"] or done["files"]
            assert len(steps) >= 2, steps
            values = [s[0] for s in steps]
            assert values == sorted(values) and len(set(values)) == len(values)
            assert any("running" in (s[2] or "") for s in steps), steps

            finished = await call(session, "wait_for_task", task_id=image["id"])
            assert finished["state"] == "succeeded" and finished["output_type"] == "image"

            shared = await call(session, "share_task", task_id=video["id"])
            page = httpx.get(shared["url"] + "/task", timeout=15)
            assert page.status_code == 200 and page.json()["state"] == "succeeded"

            mine = await call(session, "list_tasks")
            assert {t["id"] for t in mine["tasks"]} == {video["id"], image["id"]}

    run(story)


def test_limits_are_tool_errors_naming_the_limit_and_when_to_retry(make_relay: MakeRelay) -> None:
    relay = make_relay()
    queued = make_key(relay, "queued", ALL_TASKS, max_queued=2)
    daily = make_key(relay, "daily", ALL_TASKS, max_per_day=1)

    async def story() -> None:
        async with connected(relay, queued) as session:
            first = await call(session, "submit_task", request=image_to_video(promptText=SLOW))
            await call(session, "submit_task", request=image_to_video(promptText=SLOW))
            # An agent looping on submit: each one more is a tool error, never a failure.
            for _ in range(3):
                text, data = await refused(
                    session, "submit_task", request=image_to_video(promptText=SLOW)
                )
                assert data["error"] == "limit_reached" and data["limit"] == "max_queued"
                assert data["retry_after"] >= 1
                assert "max_queued" in text and f"{data['retry_after']} seconds" in text
            # Once one ends (cancelled here), one more fits.
            cancelled = await call(session, "cancel_task", task_id=first["id"])
            assert cancelled["state"] == "cancelled"
            await call(session, "submit_task", request=image_to_video(promptText=SLOW))
        async with connected(relay, daily) as session:
            await call(session, "submit_task", request=image_to_video(promptText=SLOW))
            text, data = await refused(
                session, "submit_task", request=image_to_video(promptText=SLOW)
            )
            assert data["limit"] == "max_per_day" and "max_per_day" in text
            # A bad request is a tool error naming the field.
            text, data = await refused(session, "submit_task", request={"kind": "nonsense"})
            assert data["error"] in ("InvalidRequest", "MalformedRequest") and "kind" in text

    run(story)


def test_another_keys_task_is_not_found_and_cancel_works(make_relay: MakeRelay) -> None:
    relay = make_relay()
    owner = make_key(relay, "owner", ALL_TASKS)
    other = make_key(relay, "other", ALL_TASKS)

    async def story() -> None:
        async with connected(relay, owner) as session:
            task = await call(session, "submit_task", request=image_to_video(promptText=SLOW))
        async with connected(relay, other) as session:
            for tool in ("get_task", "wait_for_task", "cancel_task", "share_task"):
                text, data = await refused(session, tool, task_id=task["id"])
                assert data["error"] == "not_found" and "no such task" in text, tool
            with pytest.raises(MCPError):
                await session.read_resource(f"task://{task['id']}")
            assert (await call(session, "list_tasks"))["tasks"] == []
        async with connected(relay, owner) as session:
            # A wait is bounded: back with the state so far, saying so.
            waited = await call(session, "wait_for_task", task_id=task["id"], timeout_seconds=0.5)
            assert waited["waited_out"] and waited["state"] in ("queued", "running")
            assert (await call(session, "cancel_task", task_id=task["id"]))["cancelled"]
            ended = await call(session, "wait_for_task", task_id=task["id"])
            # Whose it is: the app of the key that made it (a key made alone: its own app).
            assert ended["state"] == "cancelled" and ended["app"] == "owner"
            listed = await call(session, "list_tasks", app="owner")
            assert [(t["id"], t["app"]) for t in listed["tasks"]] == [(task["id"], "owner")]
            text, _ = await refused(session, "cancel_task", task_id=task["id"])
            assert "cancel" in text

    run(story)


def test_a_key_revoked_mid_session_is_refused_at_its_next_call(make_relay: MakeRelay) -> None:
    relay = make_relay()
    key = make_key(relay, "leaving", ALL_TASKS)

    async def story() -> None:
        async with connected(relay, key) as session:
            await call(session, "list_tasks")
            assert relay.api.delete("/v1/keys/leaving").status_code in (200, 204)
            with pytest.raises(MCPError) as refusal:
                await session.call_tool("list_tasks", {})
            assert "not authenticated" in str(refusal.value)
        # And no new session opens with it.
        with pytest.raises(BaseException) as opening:
            async with connected(relay, key):
                pass
        assert "not authenticated" in messages(opening.value)

    run(story)


# resources/subscribe is the handshake era's way (the 2026 era listens instead): the SDK
# warns that it is going, which is what this era's clients still send.
@pytest.mark.filterwarnings("ignore:resources/subscribe is removed")
def test_a_task_resource_announces_its_changes_and_kinds_are_a_resource(
    make_relay: MakeRelay,
) -> None:
    relay = make_relay()
    key = make_key(relay, "watcher", ALL_TASKS)
    updates: list[str] = []

    async def on_message(message: Any) -> None:
        params = getattr(getattr(message, "root", message), "params", None)
        uri = getattr(params, "uri", None)
        if uri is not None:
            updates.append(str(uri))

    async def story() -> None:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
        async with (
            http,
            streamable_http_client(f"{relay.url}/mcp", http_client=http) as (read, write),
            ClientSession(read, write, message_handler=on_message) as session,
        ):
            await session.initialize()
            listed = await session.list_resources()
            assert {"relay://kinds", "relay://events"} <= {str(r.uri) for r in listed.resources}
            kinds = await session.read_resource("relay://kinds")
            table = json.loads(kinds.contents[0].text)  # type: ignore[union-attr]
            outputs = {row["kind"]: row["output"] for row in table["kinds"]}
            assert outputs["text_to_image"] == "image" and outputs["image_to_video"] == "video"
            templates = await session.list_resource_templates()
            assert [t.uri_template for t in templates.resource_templates] == ["task://{id}"]

            task = await call(
                session, "submit_task", request=image_to_video(promptText="queue=1 run=2")
            )
            uri = f"task://{task['id']}"
            await session.subscribe_resource(uri)
            await call(session, "wait_for_task", task_id=task["id"])
            with anyio.fail_after(30):
                while uri not in updates:
                    await anyio.sleep(0.05)
            read = await session.read_resource(uri)
            now = json.loads(read.contents[0].text)  # type: ignore[union-attr]
            assert now["id"] == task["id"] and now["state"] == "succeeded"
            # The key's own task: its prompt, as GET /v1/tasks/{id} and get_task have it.
            assert now["prompt"] == "queue=1 run=2", now
            viewed = await call(session, "get_task", task_id=task["id"])
            assert viewed["prompt"] == "queue=1 run=2", viewed

    run(story)


def test_a_client_of_the_newest_protocol_era_calls_the_same_tools(make_relay: MakeRelay) -> None:
    """`mcp.Client` probes `server/discover` first (the per-request era): same auth, tools
    and refusals."""
    relay = make_relay()
    key = make_key(relay, "modern", ["tasks:read"])

    async def story() -> None:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
        transport = streamable_http_client(f"{relay.url}/mcp", http_client=http)
        async with http, Client(transport) as client:
            assert client.protocol_version == "2026-07-28"
            names = {t.name for t in (await client.list_tools()).tools}
            assert names == {"get_task", "wait_for_task", "list_tasks", "share_task"}
            listed = await client.call_tool("list_tasks", {})
            assert not listed.is_error and listed.structured_content == {
                "tasks": [],
                "next": None,
            }
            missing = await client.call_tool("get_task", {"task_id": "none-such"})
            assert missing.is_error

    run(story)


def test_a_small_finished_image_comes_back_as_image_content(
    make_relay: MakeRelay, tmp_path: Path
) -> None:
    relay = make_relay(
        media={"enabled": True, "dir": str(tmp_path / "media"), "allow_private_networks": True}
    )
    key = make_key(relay, "painter", ALL_TASKS)

    async def story() -> None:
        async with connected(relay, key) as session:
            request = {"kind": "text_to_image", "model": "gen4_image", "promptText": "x format=png"}
            task = await call(session, "submit_task", request=request)
            ended = await session.call_tool("wait_for_task", {"task_id": task["id"]})
            view = ended.structured_content
            # As an agent is told to: a wait that ran out (a slow copy) is waited again.
            for _ in range(10):
                if not (isinstance(view, dict) and view.get("waited_out")):
                    break
                ended = await session.call_tool("wait_for_task", {"task_id": task["id"]})
                view = ended.structured_content
            assert isinstance(view, dict) and view["state"] == "succeeded", view
            # The relay's copy: its link and its type, and the picture itself.
            assert view["copies"] == {"status": "mirrored"}, (view, relay.log()[-4000:])
            assert [f["content_type"] for f in view["files"]] == ["image/png"]
            assert view["files"][0]["url"].startswith(f"{relay.url}/media/")
            images = [c for c in ended.content if c.type == "image"]
            assert len(images) == 1 and images[0].mime_type == "image/png"
            assert base64.b64decode(images[0].data).startswith(b"\x89PNG")

    run(story)


def test_a_body_that_never_arrives_is_answered_408(make_relay: MakeRelay) -> None:
    """The SDK reads a body with no deadline of its own: the door reads it under the API's
    caps (web/body.py) and answers as the API would."""
    relay = make_relay(server={"body_timeout_seconds": 1})
    key = make_key(relay, "slow", ALL_TASKS)
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
        "Content-Length: 1000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", relay.port), timeout=30) as conn:
        conn.sendall(head.encode() + b'{"jsonrpc": "2.0", ')
        answer = whole_answer(conn)  # the relay answers without waiting for the rest
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"did not arrive within 1s" in answer
    # And the door still serves.
    run(_lists_tools(relay, key))


def _lists_tools(relay: Relay, key: str) -> Callable[[], Awaitable[None]]:
    async def story() -> None:
        async with connected(relay, key) as session:
            assert (await session.list_tools()).tools

    return story


def errors_beside_a_slow_store(relay: Relay) -> list[dict[str, Any]]:
    """The relay's error lines, but for a store slow to answer: on a loaded machine the
    worker it held up logs that (`PostgreSQL did not answer within 2s`), which is no concern
    of the tests below."""
    errors = [line for line in relay.log_lines() if line.get("level") == "error"]
    return [e for e in errors if "did not answer within" not in str(e.get("exception"))]


@pytest.mark.every_backend
def test_nul_in_any_tools_argument_is_a_tool_error_naming_the_field(
    make_relay: MakeRelay,
) -> None:
    """As at /v1 and /runwayml (the same rule, receiver/kernel/http/body.py): PostgreSQL's
    text holds no NUL, so none gets past the door to fail later."""
    relay = make_relay()
    key = make_key(relay, "nul", ALL_TASKS)
    bad: list[tuple[str, dict[str, Any], str]] = [
        ("submit_task", {"request": image_to_video(model="gen4\x00turbo")}, "request.model"),
        ("submit_task", {"request": image_to_video(promptText="a\x00b")}, "request.promptText"),
        ("submit_task", {"request": {**image_to_video(), "x\x00": 1}}, "request.x\\u0000"),
        (
            "submit_task",
            {"request": image_to_video(), "idempotency_key": "k\x00"},
            "idempotency_key",
        ),
        ("get_task", {"task_id": "t\x00"}, "task_id"),
        ("list_tasks", {"q": "\x00"}, "q"),
    ]

    async def story() -> None:
        async with connected(relay, key) as session:
            for tool, arguments, field in bad:
                text, data = await refused(session, tool, **arguments)
                assert data["error"] == "invalid_arguments", (tool, data)
                assert text.startswith(f"{field}:") and "NUL" in text, (tool, text)
            with pytest.raises(MCPError):
                await session.read_resource("task://t\x00")
            assert (await call(session, "list_tasks"))["tasks"] == []

    run(story)
    # A NUL past the door would fail later, in PostgreSQL, as an error in the log.
    assert not errors_beside_a_slow_store(relay)


def test_a_client_closing_right_after_initialize_is_no_error(make_relay: MakeRelay) -> None:
    """Its `notifications/initialized` and its DELETE race: the SDK answered the first 202,
    then found the session gone and answered again (`Unexpected ASGI message ... after
    response already completed`, an error traceback). Now nothing is sent twice, and the
    SDK's line is a debug one."""
    relay = make_relay()
    key = make_key(relay, "brief", ["tasks:read"])

    async def story() -> None:
        for _ in range(20):
            async with connected(relay, key):
                pass

    run(story)
    log = relay.log()
    assert "Unexpected ASGI message" not in log and "Traceback" not in log
    assert not errors_beside_a_slow_store(relay)
