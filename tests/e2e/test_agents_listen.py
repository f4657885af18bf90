"""`subscriptions/listen` (MCP 2026-07-28) at the agents' door, with the official client
against a running relay and the simulator: a listen hears its task's resource change until
the task ends and its task list change, never another app's task, and holds a live stream's
place under its key's cap (past it only that key is refused). The handshake era's
`resources/subscribe` is tested beside the door's other tests (test_agents_door.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ResourcesListChanged, ResourceUpdated, ServerEvent
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from tests.conftest import MakeRelay
from tests.e2e.test_agents_door import ALL_TASKS, make_key, run
from tests.harness import Relay, image_to_video

ENDED = {"succeeded", "failed", "cancelled"}


@asynccontextmanager
async def modern(relay: Relay, key: str) -> AsyncIterator[Client]:
    """A client of the 2026 era (it negotiates 2026-07-28 with the relay)."""
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
    transport = streamable_http_client(f"{relay.url}/mcp", http_client=http)
    async with http, Client(transport) as client:
        assert client.protocol_version == "2026-07-28"
        yield client


async def submit(client: Client, prompt: str) -> str:
    made = await client.call_tool("submit_task", {"request": image_to_video(promptText=prompt)})
    assert not made.is_error and isinstance(made.structured_content, dict), made.content
    return str(made.structured_content["id"])


async def read(client: Client, uri: str) -> dict[str, Any]:
    found = await client.read_resource(uri)
    view: dict[str, Any] = json.loads(found.contents[0].text)  # type: ignore[union-attr]
    return view


def test_a_listen_hears_its_task_until_it_ends_and_never_another_apps(
    make_relay: MakeRelay,
) -> None:
    relay = make_relay()
    owner = make_key(relay, "owner", ALL_TASKS)
    stranger = make_key(relay, "stranger", ALL_TASKS)
    heard: list[ServerEvent] = []
    uris: dict[str, str] = {}

    async def story() -> None:
        async with modern(relay, owner) as client, modern(relay, stranger) as other:
            mine = f"task://{await submit(client, 'queue=2 run=2')}"
            # The stranger's task runs and ends while the owner listens, naming it too.
            theirs = f"task://{await submit(other, 'queue=0 run=1')}"
            asked = [mine, theirs]
            uris.update(mine=mine, theirs=theirs)
            async with client.listen(
                resource_subscriptions=asked, resources_list_changed=True
            ) as sub:
                assert set(sub.honored.resource_subscriptions or ()) == set(asked)
                assert sub.honored.resources_list_changed
                view = await read(client, mine)  # what happened before the listen began
                with anyio.fail_after(60):
                    async for event in sub:
                        heard.append(event)
                        if event == ResourceUpdated(mine):
                            view = await read(client, mine)
                            if view["state"] in ENDED and not view["copying"]:
                                break
                assert view["state"] == "succeeded", view
            with pytest.raises(MCPError):
                await read(client, theirs)

    run(story)
    updated = {e.uri for e in heard if isinstance(e, ResourceUpdated)}
    assert updated == {uris["mine"]} and ResourcesListChanged() in heard, heard
    log = relay.log()
    assert "Traceback" not in log and "Exception in ASGI application" not in log


def test_a_listen_past_its_keys_streams_is_refused_for_that_key_only(
    make_relay: MakeRelay,
) -> None:
    relay = make_relay(server={"max_streams_per_client": 2})
    greedy = make_key(relay, "greedy", ["tasks:read"])
    polite = make_key(relay, "polite", ["tasks:read"])

    async def story() -> None:
        async with modern(relay, greedy) as client, modern(relay, polite) as other:
            async with AsyncExitStack() as held:
                for _ in range(2):
                    await held.enter_async_context(client.listen(resources_list_changed=True))
                with pytest.raises(MCPError) as refused:
                    async with client.listen(resources_list_changed=True):
                        pass
                assert "max_streams_per_client" in str(refused.value)
                # Another key listens meanwhile, and the refused key still calls its tools.
                async with other.listen(resources_list_changed=True) as sub:
                    assert sub.honored.resources_list_changed
                assert not (await client.call_tool("list_tasks", {})).is_error
            # Its listens ended: their places are given back.
            with anyio.fail_after(20):
                while True:
                    try:
                        async with client.listen(resources_list_changed=True):
                            break
                    except MCPError:
                        await anyio.sleep(0.2)

    run(story)
