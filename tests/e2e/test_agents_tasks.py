"""MCP 2026-07-28 in full at the agents' door: `server/discover` (raw JSON-RPC, as any
client of the era sends it) and the tasks extension (`io.modelcontextprotocol/tasks`) with
the official client: a task submitted with submit_task by a client of the extension comes
back as a task handle, followed with `tasks/get` until completed, with its result; another
app's key and an unknown id are refused in words, and `tasks/cancel` ends a task."""

from __future__ import annotations

from typing import Any, Literal

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, Request, RequestParams, Result
from pydantic import ConfigDict, Field

from tests.conftest import MakeRelay
from tests.e2e.test_agents_door import ALL_TASKS, SLOW, make_key, run
from tests.harness import WAIT_SECONDS, Relay, image_to_video

EXTENSION = "io.modelcontextprotocol/tasks"
VERSION = "2026-07-28"


class TaskHandle(Result):
    """A task handle, as the extension answers `tools/call` and `tasks/get`."""

    model_config = ConfigDict(extra="allow")
    result_type: Literal["task"] = "task"
    task_id: str
    status: str
    status_message: str | None = None


class TaskState(Result):
    model_config = ConfigDict(extra="allow")
    task_id: str
    status: str
    status_message: str | None = None
    result: dict[str, Any] | None = None


class TaskIdParams(RequestParams):
    task_id: str = Field(alias="taskId")


class GetTask(Request[TaskIdParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    params: TaskIdParams


class CancelTask(Request[TaskIdParams, Literal["tasks/cancel"]]):
    method: Literal["tasks/cancel"] = "tasks/cancel"
    params: TaskIdParams


async def _unresolved(handle: TaskHandle, ctx: ClaimContext) -> CallToolResult:
    raise AssertionError("the test follows its handles itself")


class Tasks(ClientExtension):
    """The client side of the extension: declared in each request's capabilities, and the
    `resultType: "task"` shape read as a TaskHandle."""

    identifier = EXTENSION

    def claims(self) -> list[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=TaskHandle, resolve=_unresolved)]


def client(relay: Relay, key: str, extensions: list[ClientExtension]) -> tuple[Any, Client]:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
    transport = streamable_http_client(f"{relay.url}/mcp", http_client=http)
    return http, Client(transport, extensions=extensions)


async def get(mcp: Client, task_id: str) -> TaskState:
    return await mcp.session.send_request(GetTask(params=TaskIdParams(taskId=task_id)), TaskState)


async def cancel(mcp: Client, task_id: str) -> None:
    """tasks/cancel, asked again while the relay answers that the task is being sent to
    CometAPI right now (its documented refusal, which says to ask again shortly)."""
    request = CancelTask(params=TaskIdParams(taskId=task_id))
    with anyio.fail_after(WAIT_SECONDS):
        while True:
            try:
                await mcp.session.send_request(request, Result)
                return
            except MCPError as exc:
                if "cancel it again shortly" not in exc.error.message:
                    raise
            await anyio.sleep(0.1)


async def submit(mcp: Client, prompt: str) -> TaskHandle:
    request = {"request": image_to_video(promptText=prompt)}
    made = await mcp.session.call_tool("submit_task", request, allow_claimed=True)
    assert isinstance(made, TaskHandle), made
    return made


def raw(relay: Relay, key: str | None, method: str, params: dict[str, Any]) -> httpx.Response:
    """A request as any client of the 2026 era sends it."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": VERSION,
        "io.modelcontextprotocol/clientCapabilities": {"extensions": {EXTENSION: {}}},
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}
    headers = {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": VERSION,
        "Mcp-Method": method,
        **({"Authorization": f"Bearer {key}"} if key else {}),
    }
    # httpx's 5 s default: a loaded CI machine's first /mcp answer has taken longer.
    return httpx.post(f"{relay.url}/mcp", json=body, headers=headers, timeout=WAIT_SECONDS)


def test_server_discover_names_the_versions_and_the_tasks_extension(
    make_relay: MakeRelay,
) -> None:
    relay = make_relay()
    key = make_key(relay, "prober", ["tasks:read"])
    answer = raw(relay, key, "server/discover", {})
    assert answer.status_code == 200, answer.text
    found = answer.json()["result"]
    assert VERSION in found["supportedVersions"]
    capabilities = found["capabilities"]
    assert capabilities["extensions"] == {EXTENSION: {}}
    assert capabilities["tools"] is not None and capabilities["resources"]["subscribe"]
    assert found["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "runway-relay"
    # Without a key, discovery is refused as every other request is.
    assert raw(relay, None, "server/discover", {}).status_code == 401

    # The tasks methods: the door's bounds and the tools' scopes, each refused in words.
    huge = raw(relay, key, "tasks/get", {"taskId": "t" * (2 * 1024 * 1024)})
    assert huge.status_code == 400, huge.text
    assert huge.json()["error"]["message"].startswith("params.taskId: a string of at most")
    error = raw(relay, key, "tasks/get", {"taskId": "t" * 201}).json()["error"]
    assert error == {
        "code": -32602,
        "message": "tasks/get: taskId: String should have at most 200 characters",
    }
    error = raw(relay, key, "tasks/get", {}).json()["error"]
    assert error["message"] == "tasks/get: taskId: Input should be a valid string", error
    error = raw(relay, key, "tasks/cancel", {"taskId": "t1"}).json()["error"]
    assert error == {
        "code": -32602,
        "message": "tasks/cancel: this key lacks the scope tasks:cancel",
    }


def test_a_task_submitted_through_mcp_is_followed_as_an_mcp_task(make_relay: MakeRelay) -> None:
    relay = make_relay()
    owner = make_key(relay, "owner", ALL_TASKS)
    stranger = make_key(relay, "stranger", ALL_TASKS)
    submitter = make_key(relay, "submitter", ["tasks:submit"])

    async def story() -> None:
        owner_http, mine = client(relay, owner, [Tasks()])
        blind_http, blind = client(relay, submitter, [Tasks()])
        stranger_http, theirs = client(relay, stranger, [Tasks()])
        plain_http, plain = client(relay, owner, [])
        async with owner_http, mine, stranger_http, theirs, plain_http, plain, blind_http, blind:
            handle = await submit(mine, "queue=1 run=2")
            assert handle.status == "working"
            with anyio.fail_after(60):
                while (now := await get(mine, handle.task_id)).status == "working":
                    await anyio.sleep(0.1)
            assert now.status == "completed", now
            assert now.result is not None and not now.result.get("isError")
            view = now.result["structuredContent"]
            assert view["id"] == handle.task_id and view["state"] == "succeeded"
            # The state is the relay's: the same task as get_task reads it.
            seen = await plain.call_tool("get_task", {"task_id": handle.task_id})
            assert seen.structured_content is not None
            assert seen.structured_content["state"] == "succeeded"

            # Another app's key: no such task, in words; so is an id no one has.
            for who, task_id in ((theirs, handle.task_id), (mine, "none-such")):
                with pytest.raises(MCPError) as refused:
                    await get(who, task_id)
                assert refused.value.error.code == -32602
                assert f"task {task_id}: no such task" in refused.value.error.message

            # A key that may not read tasks could not follow a handle: the plain answer.
            request = {"request": image_to_video(promptText=SLOW)}
            unfollowed = await blind.session.call_tool("submit_task", request, allow_claimed=True)
            assert isinstance(unfollowed, CallToolResult) and not unfollowed.is_error

            # A client without the extension gets the tool's plain answer.
            made = await plain.call_tool(
                "submit_task", {"request": image_to_video(promptText=SLOW)}
            )
            assert not made.is_error and made.structured_content is not None
            slow = str(made.structured_content["id"])
            # tasks/cancel: refused for another's task, then it ends the owner's.
            with pytest.raises(MCPError):
                await theirs.session.send_request(
                    CancelTask(params=TaskIdParams(taskId=slow)), Result
                )
            await cancel(mine, slow)
            assert (await get(mine, slow)).status == "cancelled"

    run(story)
