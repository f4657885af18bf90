"""Slow and incomplete requests: a head or a body that never finishes cannot hold a socket.

Two hundred connections send half a request head and stop (slowloris), one declares a
1000-byte body and sends 11 bytes; meanwhile normal callbacks keep being answered. The
relay runs with short head and body deadlines so that the test sees them fire.
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import time

import httpx
import pytest

from receiver.kernel.http.connections import MAX_HEAD_BYTES
from tests.conftest import MakeRelay
from tests.fault.support import Figures, backend_of
from tests.harness import Simulator, image_to_video, video2video, wait_for, whole_answer

pytestmark = pytest.mark.fault

SLOW = 200
HEAD_TIMEOUT, BODY_TIMEOUT = 1.0, 1.0


def _closed(conn: socket.socket) -> bool:
    """True once the relay has closed its side (what it sent first, if anything, is read)."""
    try:
        while chunk := conn.recv(4096):
            del chunk
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_slow_heads_and_bodies_are_cut_and_others_are_served(
    make_relay: MakeRelay, sim: Simulator, figures: Figures, storage_url: str
) -> None:
    sim.faults(drop_rate=1.0)
    relay = make_relay(
        server={"head_timeout_seconds": HEAD_TIMEOUT, "body_timeout_seconds": BODY_TIMEOUT},
        polling={"callback_grace_seconds": 60},
    )
    task = relay.submitted(**video2video())
    path = task["callback_url"].removeprefix(relay.url)
    started = time.monotonic()
    slow = []
    for _ in range(SLOW):
        conn = socket.create_connection(("127.0.0.1", relay.port))
        conn.sendall(f"POST {path} HTTP/1.1\r\nHost: relay\r\n".encode())  # and never more
        conn.setblocking(False)
        slow.append(conn)
    short = socket.create_connection(("127.0.0.1", relay.port))
    short.sendall(
        f"POST {path} HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n".encode()
        + b'{"status": '
    )
    # Served while the slow ones hang: every answer is a real 200.
    latencies = []
    with httpx.Client(base_url=relay.url, timeout=10) as client:
        for i in range(50):
            t0 = time.monotonic()
            answer = client.post(path, json={"task_id": task["upstream_task_id"], "n": i})
            latencies.append(time.monotonic() - t0)
            assert answer.status_code == 200, answer.text
    wait_for(lambda: all(_closed(c) for c in slow), interval=0.1)
    all_cut = time.monotonic() - started
    short.settimeout(10)
    answer = whole_answer(short)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
    assert b"did not arrive within" in answer
    for conn in [*slow, short]:
        conn.close()
    log = relay.log()
    assert "Traceback" not in log
    figures.record(
        "slow_senders",
        backend=backend_of(storage_url),
        slow_connections=SLOW,
        head_timeout_seconds=HEAD_TIMEOUT,
        all_cut_within_seconds=round(all_cut, 2),
        incomplete_body_answer=408,
        callbacks_served_meanwhile=len(latencies),
        callback_p50_ms=round(statistics.median(latencies) * 1000, 1),
        callback_max_ms=round(max(latencies) * 1000, 1),
    )


def test_the_head_deadline_spares_slow_answers_and_returns_after_each_answer(
    make_relay: MakeRelay, sim: Simulator, storage_url: str
) -> None:
    """An answer slower than the head deadline is not cut; once it is out, the next head on
    the same connection has a deadline of its own (no byte-by-byte trickle afterwards)."""
    relay = make_relay(server={"head_timeout_seconds": HEAD_TIMEOUT})
    task = relay.submitted(**image_to_video())
    sim.faults(cancel_delay_seconds=1.6 * HEAD_TIMEOUT)  # under upstream.timeout_seconds
    started = time.monotonic()
    # On a connection of its own: the submit's, idle past the head deadline on a loaded
    # machine, may be closed by the relay just as the DELETE goes out on it.
    with httpx.Client(base_url=relay.url, headers=relay.api.headers, timeout=30) as fresh:
        slow = fresh.delete(f"/v1/tasks/{task['id']}")
    assert slow.status_code == 200 and time.monotonic() - started > 1.5 * HEAD_TIMEOUT
    conn = socket.create_connection(("127.0.0.1", relay.port))
    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n")
    conn.settimeout(10)
    answer = b""
    while not answer.endswith(b'{"ok":true}'):
        answer += conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200")
    conn.sendall(b"GET /healthz HTTP/1.1\r\n")  # and never more
    conn.setblocking(False)
    wait_for(lambda: _closed(conn), interval=0.1)
    conn.close()


def test_a_head_past_its_size_cap_closes_its_connection_and_a_big_body_still_goes_in(
    make_relay: MakeRelay, sim: Simulator
) -> None:
    relay = make_relay(polling={"callback_grace_seconds": 60})
    task = relay.submitted(**video2video())
    path = task["callback_url"].removeprefix(relay.url)
    endless = socket.create_connection(("127.0.0.1", relay.port))
    endless.sendall(f"POST {path} HTTP/1.1\r\nHost: relay\r\n".encode())
    sent = 0
    # Closed by the relay while sending (a reset): what the cap is for.
    with contextlib.suppress(OSError):
        while sent < 4 * MAX_HEAD_BYTES:  # header lines, never the blank line that ends them
            endless.sendall(b"X-Filler: " + b"a" * 990 + b"\r\n")
            sent += 1002
    endless.settimeout(10)
    with contextlib.suppress(ConnectionResetError):
        assert endless.recv(4096) == b""  # closed, with no answer
    endless.close()
    # A head within the cap with a body far over it (under callbacks.max_body_bytes).
    with httpx.Client(base_url=relay.url, timeout=10) as client:
        filler = "x" * (8 * MAX_HEAD_BYTES)
        answer = client.post(path, json={"task_id": task["upstream_task_id"], "note": filler})
        assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("chunked", [False, True], ids=["sized", "chunked"])
def test_a_body_refused_before_its_end_is_answered_whole_and_the_connection_goes_on(
    make_relay: MakeRelay, sim: Simulator, chunked: bool
) -> None:
    # The refusal goes out while the client still sends: the rest of the body is not a head.
    relay = make_relay(callbacks={"max_body_bytes": MAX_HEAD_BYTES})
    task = relay.submitted(**video2video())
    path = task["callback_url"].removeprefix(relay.url)
    body = b" " * (16 * MAX_HEAD_BYTES)
    content = (body[at : at + 16384] for at in range(0, len(body), 16384)) if chunked else body
    with httpx.Client(base_url=relay.url, timeout=10) as client:
        refused = client.post(path, content=content)
        assert refused.status_code == 413, refused.text
        again = client.get("/healthz")
        assert again.status_code == 200
        assert refused.extensions["network_stream"] is again.extensions["network_stream"]
