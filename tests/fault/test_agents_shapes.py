"""Whatever one key sends to the agents' door, the relay's memory barely moves: every request
is bounded where the door reads it (receiver/agents/shape.py), before the SDK builds anything
from it, and refused past a bound with a JSON-RPC error naming the field, the bound and what
was sent; and a key's requests in flight are bounded with their bodies (bounds.py).

Before (a41becd) nothing bounded what a request held: six listens of 300,000 URIs from one
`tasks:read` key took the relay from 103 to 944 MiB, and it kept 933 MiB after they left.
Here the same key sends those six listens, a 2 MiB string, 10,000-deep nesting, a huge array
in another method, a 50 MiB body and a flood of the largest bodies the door takes while it
holds every session and every stream it may; the relay's RSS (VmRSS of its process) must
grow by less than 64 MiB meanwhile and come back after, and an honest key's agent is served
throughout.

Figures: RSS before, at its peak (sampled meanwhile) and after, and what each shape got."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp.shared.exceptions import MCPError

from tests.conftest import MakeRelay
from tests.e2e.test_agents_door import make_key, run
from tests.e2e.test_agents_listen import modern
from tests.fault.support import Figures
from tests.fault.test_agents_bounds import open_session
from tests.harness import Relay, metric, wait_for

MiB = 1024 * 1024
GROWTH_MIB = 64  # what one key may make the relay grow by, whatever it sends
STREAMS_PER_KEY = 8
SESSIONS_PER_KEY = 16  # [mcp] max_sessions_per_key, its default
VERSION = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": VERSION,
    "io.modelcontextprotocol/clientInfo": {"name": "hostile", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def peak_rss(pid: int) -> Iterator[list[float]]:
    """The process's RSS sampled until the block ends; its highest is `[0]` after."""
    peak = [rss_mib(pid)]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], rss_mib(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()
        peak[0] = max(peak[0], rss_mib(pid))


def headers(key: str, method: str) -> dict[str, str]:
    """What a client of the 2026 era sends (the tool's name too: every call here names
    list_tasks)."""
    return {
        "Authorization": f"Bearer {key}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": VERSION,
        "Mcp-Method": method,
        **({"Mcp-Name": "list_tasks"} if method == "tools/call" else {}),
    }


def rpc(method: str, params: dict[str, Any], id_: int = 1) -> bytes:
    message = {"jsonrpc": "2.0", "id": id_, "method": method, "params": {**params, "_meta": META}}
    return json.dumps(message).encode()


def post(client: httpx.Client, key: str, method: str, body: bytes) -> httpx.Response:
    return client.post("/mcp", content=body, headers=headers(key, method))


def refused(answer: httpx.Response, status: int, *words: str) -> str:
    """A JSON-RPC error in words, each of `words` in it; its message."""
    assert answer.status_code == status, answer.text[:500]
    error = answer.json()["error"]
    for word in words:
        assert word in error["message"], error
    return str(error["message"])


def listen_of(count: int) -> bytes:
    uris = [f"task://{index}" for index in range(count)]
    return rpc("subscriptions/listen", {"notifications": {"resourceSubscriptions": uris}})


def deep(levels: int) -> bytes:
    """A tools/call whose argument is an array nested `levels` deep (raw: no client would)."""
    nested = b"[" * levels + b"]" * levels
    head = b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"list_tasks",'
    return head + b'"arguments":{"state":' + nested + b"}}}"


def shapes_refused(relay: Relay, key: str) -> dict[str, str]:
    """Each hostile shape, refused in words (raw JSON-RPC: no client builds these)."""
    got: dict[str, str] = {}
    listen = listen_of(300_000)
    with httpx.Client(base_url=relay.url, timeout=30) as client:
        got["listen_300000_uris"] = refused(
            post(client, key, "subscriptions/listen", listen),
            413,
            "the request body: at most 4,194,304 bytes",
            f"declared {len(listen):,} bytes",
        )
        got["listen_101_uris"] = refused(
            post(client, key, "subscriptions/listen", listen_of(101)),
            400,
            "params.notifications.resourceSubscriptions: at most 100 items",
        )
        nested = post(client, key, "tools/call", deep(10_000))
        got["nested_10000"] = refused(nested, 400, "at most 32 levels")
        assert nested.json()["id"] == 7  # the id came before: the answer carries it
        got["values_11000"] = refused(
            post(client, key, "tools/call", many_values()), 400, "at most 10,000 values"
        )
        fifty = b"x" * (50 * MiB)
        got["body_50_mib"] = refused(
            post(client, key, "tools/call", fifty), 413, "declared 52,428,800 bytes"
        )
    return got


def many_values() -> bytes:
    rows = [[index] * 1_000 for index in range(11)]
    return rpc("tools/call", {"name": "list_tasks", "arguments": {"rows": rows}})


def refused_to_the_client(relay: Relay, key: str) -> dict[str, str]:
    """What the official client shows its caller for a 2 MiB string, a huge array in
    another method, and a listen past its bound."""
    got: dict[str, str] = {}

    async def story() -> None:
        async with modern(relay, key) as client:
            with pytest.raises(MCPError) as long_string:
                await client.call_tool("list_tasks", {"state": "a" * (2 * MiB)})
            got["string_2_mib"] = str(long_string.value)
            with pytest.raises(MCPError) as huge_array:
                await client.call_tool("list_tasks", {"ids": list(range(200_000))})
            got["array_200000"] = str(huge_array.value)
            with pytest.raises(MCPError) as listen:
                uris = [f"task://{index}" for index in range(300_000)]
                async with client.listen(resource_subscriptions=uris):
                    pass
            got["listen_300000_uris_client"] = str(listen.value)

    run(story)
    assert "params.arguments.state: a string of at most 1,048,576 bytes" in got["string_2_mib"]
    assert "2,097,152 bytes" in got["string_2_mib"]
    assert "params.arguments.ids: at most 1,000 items" in got["array_200000"]
    assert "the request body: at most 4,194,304 bytes" in got["listen_300000_uris_client"]
    return got


def flood(relay: Relay, key: str) -> dict[str, int]:
    """From one key at once: six listens of 300,000 URIs, and 48 of the largest bodies the
    door takes (four strings just under the bound, 4 MiB in all), 8 at a time, while the key
    holds every session and every stream it may (listens of 100 URIs each); then it ends its
    sessions. What each kind got, by status."""
    statuses: dict[str, int] = {}
    lock = threading.Lock()
    listen = listen_of(300_000)
    big = rpc("tools/call", {"name": "list_tasks", "arguments": big_arguments()})

    def send(kind: str, method: str, body: bytes) -> None:
        with httpx.Client(base_url=relay.url, timeout=30) as client:
            status = post(client, key, method, body).status_code
        with lock:
            name = f"{kind}_{status}"
            statuses[name] = statuses.get(name, 0) + 1

    async def hold_streams() -> None:
        async with modern(relay, key) as client, AsyncExitStack() as held:
            uris = [f"task://{index:032x}" for index in range(100)]
            for _ in range(STREAMS_PER_KEY):
                sub = await held.enter_async_context(client.listen(resource_subscriptions=uris))
                assert len(sub.honored.resource_subscriptions or ()) == 100
            open_ = metric(relay.scrape(), "relay_streams_open")
            assert open_ == STREAMS_PER_KEY
            with ThreadPoolExecutor(8) as pool:
                jobs = [
                    pool.submit(send, "listen", "subscriptions/listen", listen) for _ in range(6)
                ]
                jobs += [pool.submit(send, "big", "tools/call", big) for _ in range(48)]
                await anyio.to_thread.run_sync(lambda: [job.result() for job in jobs])

    with httpx.Client(base_url=relay.url, timeout=30) as client:
        sessions = [open_session(client, key) for _ in range(SESSIONS_PER_KEY + 1)]
        assert [s.status_code for s in sessions].count(200) == SESSIONS_PER_KEY
        assert sessions[-1].status_code == 429
        run(hold_streams)
        for opened in sessions[:-1]:
            session = {
                "Authorization": f"Bearer {key}",
                "Mcp-Session-Id": opened.headers["mcp-session-id"],
                "MCP-Protocol-Version": "2025-06-18",  # the handshake era's, which has sessions
            }
            ended = client.delete("/mcp", headers=session)
            assert ended.status_code == 200, ended.text
    return statuses


def big_arguments() -> dict[str, str]:
    near = 1 * MiB - 256
    return {f"field{index}": "b" * near for index in range(4)}


def honest_served(relay: Relay, key: str) -> None:
    async def story() -> None:
        async with modern(relay, key) as client:
            assert not (await client.call_tool("list_tasks", {})).is_error
            async with client.listen(resource_subscriptions=["task://t1"]) as sub:
                assert sub.honored.resource_subscriptions == ["task://t1"]

    run(story)


def test_no_shape_one_key_sends_grows_the_relay_by_64_mib(
    make_relay: MakeRelay, figures: Figures
) -> None:
    relay = make_relay(mcp={"enabled": "on"}, server={"max_streams_per_client": STREAMS_PER_KEY})
    assert relay.proc is not None
    pid = relay.proc.pid
    hostile = make_key(relay, "hostile", ["tasks:read"])
    honest = make_key(relay, "honest", ["tasks:read"])
    honest_served(relay, honest)  # the door opened, the SDK loaded: the baseline is after
    with httpx.Client(base_url=relay.url, timeout=30) as client:
        post(client, hostile, "subscriptions/listen", listen_of(101))  # first use of the scan
    before = rss_mib(pid)
    started = time.monotonic()
    with peak_rss(pid) as peak:
        shapes = shapes_refused(relay, hostile)
        client_saw = refused_to_the_client(relay, hostile)
        honest_served(relay, honest)
        statuses = flood(relay, hostile)
        honest_served(relay, honest)
    wait_for(lambda: metric(relay.scrape(), "relay_streams_open") == 0 or None)
    after = rss_mib(pid)
    figures.record(
        "agents_door_shapes",
        rss_mib_before=round(before, 1),
        rss_mib_peak=round(peak[0], 1),
        rss_mib_after=round(after, 1),
        seconds=round(time.monotonic() - started, 1),
        flood=statuses,
        refusals={**shapes, **client_saw},
    )
    print(f"RSS before {before:.1f} peak {peak[0]:.1f} after {after:.1f} MiB; {statuses}")
    # The six listens of 300,000 URIs: refused, each, in words (413: their bodies).
    assert statuses.get("listen_413") == 6, statuses
    # The largest bodies the door takes: answered, or the key told to wait (429).
    assert set(statuses) <= {"listen_413", "big_200", "big_429"}, statuses
    assert statuses.get("big_200", 0) >= 2, statuses
    assert peak[0] - before < GROWTH_MIB, (before, peak[0])
    assert after - before < GROWTH_MIB / 4, (before, after)
    honest_served(relay, honest)
    log = relay.log()
    assert "Traceback" not in log and "Exception in ASGI application" not in log
