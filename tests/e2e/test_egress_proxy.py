"""`delivery.proxy`: webhook deliveries and test events leave through an HTTP proxy (one
that records what passes, on loopback), and a target from the API is still judged by the
address its name resolves to before anything reaches the proxy."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from tests.conftest import MakeRelay, webhook
from tests.e2e.test_apps import app_key, make_app
from tests.e2e.test_keys import as_key
from tests.e2e.test_task_routing import local_name_from_hosts_file
from tests.harness import Sink, image_to_video, settled, wait_for


class RecordingProxy:
    """A forward HTTP proxy (absolute-form requests, one per connection): each request's
    method, target and headers recorded, then sent on and its answer relayed. A `CONNECT`
    (HTTPS through the proxy) is recorded with its `host:port`, then tunnelled: the bytes
    pass both ways unread, the TLS inside is the client's and the server's own."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait()

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        method, target, _ = head[0].split(" ", 2)
        headers = dict(line.split(": ", 1) for line in head[1:] if line)
        if method == "CONNECT":
            await self._tunnel(target, headers, reader, writer)
            return
        size = int(next((v for k, v in headers.items() if k.lower() == "content-length"), 0))
        body = await reader.readexactly(size)
        self.seen.append({"method": method, "target": target, "headers": headers})
        sent_on = {
            k: v
            for k, v in headers.items()
            if k.lower() not in ("host", "content-length", "connection")
            and not k.lower().startswith("proxy-")
        }
        async with (
            aiohttp.ClientSession(auto_decompress=False) as session,
            session.request(method, target, data=body, headers=sent_on) as answer,
        ):
            content = await answer.read()
            status = f"HTTP/1.1 {answer.status} {answer.reason}\r\n"
        writer.write(
            f"{status}Content-Length: {len(content)}\r\nConnection: close\r\n\r\n".encode()
            + content
        )
        await writer.drain()
        writer.close()

    async def _tunnel(
        self,
        target: str,
        headers: dict[str, str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.seen.append({"method": "CONNECT", "target": target, "headers": headers})
        host, _, port = target.rpartition(":")
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def close(self) -> None:
        async def stop() -> None:
            """The server closed, and every connection still open ended (a tunnel a
            client keeps alive among them)."""
            self._server.close()
            serving = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in serving:
                task.cancel()
            await asyncio.gather(*serving, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    recording = RecordingProxy()
    yield recording
    recording.close()


def test_deliveries_and_test_events_leave_through_the_proxy_and_the_guard_holds(
    make_relay: MakeRelay, sink: Sink, proxy: RecordingProxy
) -> None:
    relay = make_relay(
        [webhook(sink)], delivery={"proxy": proxy.url, "allow_private_networks": False}
    )
    done = relay.wait_task(relay.submitted(**image_to_video())["id"], settled)
    assert [d["state"] for d in done["deliveries"]] == ["succeeded"]
    [hit] = sink.accepted("/hook")
    assert [(s["method"], s["target"]) for s in proxy.seen] == [("POST", f"{sink.url}/hook")]
    assert proxy.seen[0]["headers"]["webhook-id"] == hit["headers"]["webhook-id"]

    tested = relay.api.post("/v1/downstreams/hook/test", json={"type": "task.succeeded"})
    assert tested.json()["status"] == 200, tested.json()
    assert [s["target"] for s in proxy.seen] == [f"{sink.url}/hook"] * 2

    # A task's webhook came through the API: its name resolves to a local address, so it
    # is refused before the proxy (which would resolve it past the guard) sees it.
    name = local_name_from_hosts_file()
    if name is None:
        pytest.skip("/etc/hosts names no local address but localhost")
    task = relay.submitted(
        **image_to_video(), webhook=f"{sink.url.replace('127.0.0.1', name)}/mine"
    )

    def refused() -> dict[str, Any] | None:
        shown = relay.task(task["id"])
        mine = [d for d in shown["deliveries"] if d["downstream"] == "task-webhook"]
        return mine[0] if mine and mine[0]["last_error"] else None

    attempt = wait_for(refused)
    assert "resolves to a private or local address" in attempt["last_error"], attempt
    assert all(not s["target"].endswith("/mine") for s in proxy.seen)
    assert sink.received("/mine") == []

    # A downstream's own proxy, and an OAuth2 token endpoint, are addresses the relay
    # connects to: from the API, public ones only, as the URL is.
    for field, extra in (
        ("proxy", {"proxy": proxy.url}),
        (
            "auth.token_url",
            {
                "auth": {
                    "type": "oauth2",
                    "token_url": f"{sink.url}/token",
                    "client_id": "c",
                    "client_secret": "s",
                }
            },
        ),
    ):
        body = {"name": "mine", "url": "https://hooks.example.com/x", **extra}
        made = relay.api.post("/v1/downstreams", json=body)
        assert made.status_code == 422 and f"{field}: 127.0.0.1" in made.text, made.text


def test_through_the_proxy_a_name_the_relay_cannot_resolve_is_refused_unless_allowed(
    make_relay: MakeRelay, sink: Sink, proxy: RecordingProxy
) -> None:
    """The proxy would resolve a name the relay cannot, in its own network: an app's
    downstream at such a name, or its OAuth2 token endpoint there, is refused before the
    proxy sees it; a name the operator lists in `delivery.proxy_names` goes through."""
    name = local_name_from_hosts_file()
    if name is None:
        pytest.skip("/etc/hosts names no local address but localhost")
    relay = make_relay(
        delivery={"proxy": proxy.url, "allow_private_networks": False, "proxy_names": [name]}
    )
    make_app(relay, "alpha")
    scopes = ["tasks:submit", "tasks:read", "downstreams"]
    alpha = as_key(relay, app_key(relay, "alpha", "alpha-key", scopes))
    allowed = sink.url.replace("127.0.0.1", name)
    oauth2 = {"type": "oauth2", "client_id": "c", "client_secret": "s"}
    for body in (
        {"name": "vault", "url": "http://vault.corp.invalid/hook"},
        {
            "name": "idp",
            "url": f"{allowed}/idp",
            "auth": {**oauth2, "token_url": "http://idp.corp.invalid/token"},
        },
        {"name": "named", "url": f"{allowed}/named"},
    ):
        made = alpha.post("/v1/downstreams", json=body)
        assert made.status_code == 201, made.text
    task = alpha.post("/v1/tasks", json=image_to_video()).json()

    def attempted() -> dict[str, dict[str, Any]] | None:
        rows = relay.task(task["id"])["deliveries"]
        tried = {d["downstream"].rpartition(".")[2]: d for d in rows}
        refused = [tried.get(n, {}).get("last_error") for n in ("vault", "idp")]
        delivered = tried.get("named", {}).get("state") == "succeeded"
        return tried if delivered and all(refused) else None

    tried = wait_for(attempted)
    for host in ("vault.corp.invalid", "idp.corp.invalid"):
        said = tried[host.partition(".")[0]]["last_error"]
        assert said.startswith(f"refused: {host} does not resolve here"), said
        assert "delivery.proxy_names" in said, said
    assert [s["target"] for s in proxy.seen] == [f"{allowed}/named"]
    assert len(sink.accepted("/named")) == 1 and sink.received("/idp") == []
