"""One app's key cannot take the agents' door, nor through it the relay: its MCP sessions are
capped (`[mcp] max_sessions_per_key`) and its `GET /mcp` streams take places in the live
streams' pool under the key's cap (`server.max_streams_per_client`). Past either only that
key is refused, 429 or 503 with Retry-After and a reason, while `/livez`, the admin API,
CometAPI's callbacks and another app's agents are answered 200.

Before (8eb8d88), nothing counted them: one key holding only `tasks:read` held a stream on a
session per connection until `server.max_connections` was full, and then everyone got 503.
Here the greedy key asks for more sessions and streams than the relay has connections.

Figures: what the greedy key got, in order, and what the others got meanwhile."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx

from tests.conftest import MakeRelay
from tests.e2e.test_agents_door import make_key
from tests.e2e.test_apps import app_key, make_app
from tests.fault.support import Figures, backend_of
from tests.harness import ADMIN_TOKEN, Relay, image_to_video, mint, wait_for

CONNECTIONS = 60
SESSIONS_PER_KEY = 4
STREAMS_PER_KEY = 3
# More than the relay has connections: before, every one was granted until none was left.
GREEDY_ATTEMPTS = CONNECTIONS + 10
VERSION = "2025-06-18"


def _headers(key: str, session: str | None = None) -> dict[str, str]:
    headers = {
        "Authorization": f"Bearer {key}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": VERSION,
    }
    if session is not None:
        headers["Mcp-Session-Id"] = session
    return headers


def _rpc(method: str, params: dict[str, Any], id_: int | None = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
    if id_ is not None:
        message["id"] = id_
    return message


def open_session(client: httpx.Client, key: str) -> httpx.Response:
    """`initialize` and, when it opened a session, `notifications/initialized` on it."""
    hello = {
        "protocolVersion": VERSION,
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    }
    answer = client.post("/mcp", json=_rpc("initialize", hello), headers=_headers(key))
    session = answer.headers.get("mcp-session-id")
    if answer.status_code == 200 and session:
        done = client.post(
            "/mcp", json=_rpc("notifications/initialized", {}, None), headers=_headers(key, session)
        )
        assert done.status_code == 202, done.text
    return answer


def hold_stream(
    stack: contextlib.ExitStack, client: httpx.Client, key: str, session: str
) -> httpx.Response:
    """The session's GET stream, held open until `stack` closes when it was granted."""
    response = stack.enter_context(
        client.stream("GET", "/mcp", headers=_headers(key, session), timeout=httpx.Timeout(15))
    )
    if response.status_code != 200:
        response.read()
    return response


def assert_refused(answer: httpx.Response, status: int, setting: str) -> None:
    """Refused as a key's share is: the status, when to come back, and why, in JSON."""
    assert answer.status_code == status, answer.text
    assert answer.headers["retry-after"].isdigit() and int(answer.headers["retry-after"]) >= 1
    assert setting in answer.json()["error"]["message"]


def others_answered(relay: Relay, other_key: str, task_id: str) -> dict[str, int]:
    """What the rest of the world gets meanwhile, each on a new connection (a kept-alive one
    would pass the connection cap unseen): each must be 200."""
    fresh = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=relay.url, timeout=15, limits=fresh) as client:
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        got = {
            "livez": client.get("/livez").status_code,
            "admin_api": client.get("/v1/tasks", params={"limit": 1}, headers=admin).status_code,
            "callback": client.post(
                f"/callbacks/runway/{mint(task_id)}", json={"status": "RUNNING"}
            ).status_code,
        }
        with contextlib.ExitStack() as stack:
            opened = open_session(client, other_key)
            got["other_app_session"] = opened.status_code
            session = opened.headers.get("mcp-session-id", "")
            got["other_app_stream"] = hold_stream(stack, client, other_key, session).status_code
    return got


def test_one_key_holding_every_session_and_stream_it_may_leaves_the_relay_answering(
    make_relay: MakeRelay, figures: Figures, storage_url: str
) -> None:
    relay = make_relay(
        server={"max_connections": CONNECTIONS, "max_streams_per_client": STREAMS_PER_KEY},
        mcp={"enabled": "on", "max_sessions_per_key": SESSIONS_PER_KEY},
    )
    make_app(relay, "greedy")
    make_app(relay, "polite")
    greedy = app_key(relay, "greedy", "greedy-agent", ["tasks:read"])
    polite = app_key(relay, "polite", "polite-agent", ["tasks:read"])
    task_id = relay.submitted(**image_to_video(promptText="queue=60 run=600"))["id"]
    limits = httpx.Limits(max_connections=GREEDY_ATTEMPTS * 2, max_keepalive_connections=10)
    greedy_got: list[tuple[int, int | None]] = []  # (session's status, its stream's status)
    with (
        httpx.Client(base_url=relay.url, timeout=15, limits=limits) as client,
        contextlib.ExitStack() as held,
    ):
        for _ in range(GREEDY_ATTEMPTS):
            opened = open_session(client, greedy)
            if opened.status_code != 200:
                greedy_got.append((opened.status_code, None))
                assert_refused(opened, 429, "mcp.max_sessions_per_key")
                break
            stream = hold_stream(held, client, greedy, opened.headers["mcp-session-id"])
            greedy_got.append((200, stream.status_code))
            if stream.status_code != 200:
                assert_refused(stream, 503, "max_streams_per_client")
        # Exactly its share: the sessions it may hold, a stream on as many as it may.
        assert [s for s, _ in greedy_got].count(200) == SESSIONS_PER_KEY, greedy_got
        assert [s for _, s in greedy_got].count(200) == STREAMS_PER_KEY, greedy_got
        assert greedy_got[-1] == (429, None), greedy_got

        others = others_answered(relay, polite, task_id)
        assert set(others.values()) == {200}, others
        # The greedy key is still refused past its share, whatever the others did.
        assert_refused(open_session(client, greedy), 429, "mcp.max_sessions_per_key")

    log = relay.log()
    assert "Traceback" not in log and "Exception in ASGI application" not in log
    figures.record(
        "agents_door_bounds",
        backend=backend_of(storage_url),
        max_connections=CONNECTIONS,
        greedy=greedy_got,
        others=others,
    )


def test_idle_sessions_end_and_give_their_key_its_room_back(make_relay: MakeRelay) -> None:
    relay = make_relay(mcp={"enabled": "on", "max_sessions_per_key": 2, "session_idle_seconds": 1})
    key = make_key(relay, "agent", ["tasks:read"])
    with httpx.Client(base_url=relay.url, timeout=15) as client:
        first = [open_session(client, key) for _ in range(2)]
        assert [s.status_code for s in first] == [200, 200]
        assert_refused(open_session(client, key), 429, "mcp.max_sessions_per_key")
        # Nobody uses them: they end, and the key may open sessions again.
        again = wait_for(lambda: (s := open_session(client, key)).status_code == 200 and s)
        assert again.headers["mcp-session-id"]
        # Each ends on its own idle clock: the second old one has ended too once a second
        # new one opens (the newer `again` cannot end before it).
        wait_for(lambda: open_session(client, key).status_code == 200)
        for old in first:
            session = old.headers["mcp-session-id"]
            ping = client.post("/mcp", json=_rpc("ping", {}), headers=_headers(key, session))
            assert ping.status_code == 404, ping.text
