"""A value a remote party chooses stays in its own scope: an OAuth2 token endpoint that
issues `"level":"info"`, then `delivery.succeeded`, as its tokens (and a downstream that
quotes the token it got) cuts neither out of any other log line, nor does a bearer token an
app chose that is another downstream's name. Every line stays JSON with its level and its
event's name, and neither token shows in clear where its downstream echoed it: in a log
line, a stored error or an excerpt."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import MakeRelay, webhook
from tests.harness import Sink, settled, video2video

pytestmark = pytest.mark.fault

TOKENS = ('"level":"info"', "delivery.succeeded")
OTHER = "orders-webhook"


class ChoosingEndpoint:
    """`/token` issues TOKENS in turn (the last one from then on); `/hook` answers its
    first request 401 (the relay fetches the next token), the second 503 (retried), the
    rest 200, each quoting every `Authorization` it got."""

    def __init__(self) -> None:
        self.issued: list[str] = []
        self.seen: list[str] = []
        lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    if self.path == "/token":
                        token = TOKENS[min(len(endpoint.issued), len(TOKENS) - 1)]
                        endpoint.issued.append(token)
                        status, body = 200, {"access_token": token, "expires_in": 3600}
                    else:
                        got = self.headers.get("Authorization", "")
                        endpoint.seen.append(got)
                        status = {1: 401, 2: 503}.get(len(endpoint.seen), 200)
                        body = {"ok": status == 200, "got": endpoint.seen}
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


@pytest.fixture
def choosing() -> Iterator[ChoosingEndpoint]:
    endpoint = ChoosingEndpoint()
    yield endpoint
    endpoint.close()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_tokens_an_endpoint_chooses_are_cut_only_from_their_downstreams_lines(
    make_relay: MakeRelay, sink: Sink, choosing: ChoosingEndpoint
) -> None:
    oauth = {
        "type": "oauth2",
        "token_url": f"{choosing.url}/token",
        "client_id": "relay",
        "client_secret": "oauth-client-secret-0002-never-shown",
    }
    relay = make_relay(
        [webhook(sink, "erp", url=f"{choosing.url}/hook", auth=oauth), webhook(sink, OTHER)]
    )
    # Made through the API: its token is what its maker chose, here the other's name.
    app_hook = {"name": "app-hook", "url": f"{sink.url}/app-hook"}
    app_hook["auth"] = {"type": "bearer", "token": OTHER}
    assert relay.api.post("/v1/downstreams", json=app_hook).status_code == 201
    task = relay.submit(**video2video()).json()
    done = relay.wait_task(task["id"], settled)
    assert {d["downstream"]: d["state"] for d in done["deliveries"]} == {
        "erp": "succeeded",
        OTHER: "succeeded",
        "app-hook": "succeeded",
    }
    assert sink.accepted("/app-hook")[0]["headers"]["authorization"] == f"Bearer {OTHER}"
    # Both tokens were issued and sent, and the downstream quoted each back.
    assert set(choosing.issued) == set(TOKENS)
    assert {f"Bearer {token}" for token in TOKENS} <= set(choosing.seen)

    lines = relay.log().splitlines()
    parsed = [json.loads(line) for line in lines]  # every line is JSON
    assert all({"level", "event"} <= line.keys() for line in parsed)
    assert all(line["level"] in ("debug", "info", "warning", "error") for line in parsed)
    events = [line["event"] for line in parsed]
    assert events.count("delivery.succeeded") == 3  # each downstream's, named
    # The other downstream's lines keep its name: app-hook's token is searched in its own.
    named = {line.get("downstream") for line in parsed if line["event"] == "delivery.succeeded"}
    assert named == {"erp", OTHER, "app-hook"}
    assert "delivery.retry" in events  # erp's first: 401 to one token, 503 to the next
    # Where erp quoted a token, it was cut out; nowhere else is either searched for.
    for line in parsed:
        said = [s for key, v in line.items() if key != "event" for s in _strings(v)]
        assert not [s for s in said if any(token in s for token in TOKENS)], line
    [retry] = [line for line in parsed if line["event"] == "delivery.retry"]
    assert retry["error"].startswith("HTTP 503: ")
    assert retry["error"].count("Bearer [redacted]") == 2

    attempts = [a for a in relay.task(task["id"])["attempts"] if a["downstream"] == "erp"]
    kept = [a["error"] or "" for a in attempts] + [a["excerpt"] or "" for a in attempts]
    assert any("Bearer [redacted]" in text for text in kept)
    assert not [text for text in kept if any(token in text for token in TOKENS)]
