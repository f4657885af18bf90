"""An answer given before the body is read reaches the sender: an oversize callback (2 MiB
against the 1 MiB cap) gets its `413`, never a connection reset, however many come. The
relay reads and drops the rest of a body it refused (up to a bound) before it answers, and
past that bound answers with `Connection: close`, as servers do after an early answer: a
socket closed with bytes unread sends a reset, and a client still writing its body never
reads the answer."""

from __future__ import annotations

import socket
from collections import Counter

import httpx
import pytest

from tests.conftest import MakeRelay
from tests.harness import image_to_video, mint

pytestmark = pytest.mark.fault

SENDS = 30
BODY = b'{"id": "' + b"x" * (2 * 1024 * 1024) + b'"}'


def _one_shot(port: int, path: str, body: bytes) -> str:
    """A sender that says `Connection: close`, writes its whole body, then reads the answer
    (small buffers, as across a network: the relay answers while it is still writing). A
    write that fails is the outcome, as for most HTTP clients."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.socket() as sender:
        sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
        sender.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sender.settimeout(30)
        sender.connect(("127.0.0.1", port))
        try:
            sender.sendall(head + body)
            answer = b""
            while b"\r\n" not in answer:
                chunk = sender.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except OSError as exc:
            return type(exc).__name__
    return (
        answer.split(b"\r\n", 1)[0].decode(errors="replace").split(" ", 2)[1] if answer else "eof"
    )


def test_every_oversize_callback_gets_its_413(make_relay: MakeRelay) -> None:
    relay = make_relay()
    task = relay.submitted(**image_to_video())
    path = f"/callbacks/runway/{mint(task['id'])}"
    outcomes = Counter(_one_shot(relay.port, path, BODY) for _ in range(SENDS))
    assert outcomes == {"413": SENDS}, outcomes

    # A kept-alive client (httpx) and a chunked body (no Content-Length, refused mid-stream).
    for content in (BODY, (BODY[i : i + 65536] for i in range(0, len(BODY), 65536))):
        answer = httpx.post(relay.url + path, content=content, timeout=30)
        assert answer.status_code == 413, answer.text
        assert "connection" not in answer.headers  # all read: the connection goes on
        assert answer.json()["error"] == "too_large", answer.text
    # The same on the API's own bodies (a key's is capped at 16 KiB).
    big = relay.api.post("/v1/keys", content=BODY, timeout=30)
    assert big.status_code == 413, big.text
    # A body declared past what is worth reading is answered at once, and the connection
    # closed after the answer.
    with socket.create_connection(("127.0.0.1", relay.port), timeout=30) as sender:
        sender.sendall(
            f"POST {path} HTTP/1.1\r\nHost: relay\r\nContent-Length: {64 << 20}\r\n\r\n".encode()
        )
        answer = b""
        while chunk := sender.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 ") and b"\r\nconnection: close\r\n" in answer.lower()
    assert relay.api.get(f"/v1/tasks/{task['id']}").status_code == 200
