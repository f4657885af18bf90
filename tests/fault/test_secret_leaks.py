"""A downstream URL given by url_env is a credential: it never shows in a stored error, an
API answer or a log line, even when the downstream answers with something that is not HTTP.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from tests.conftest import MakeRelay
from tests.fault.support import Figures, backend_of
from tests.harness import Simulator, settled, video2video

pytestmark = pytest.mark.fault


@pytest.fixture
def not_http() -> Iterator[int]:
    """A server that answers every connection with bytes that are not HTTP, then hangs up."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\nthis is not http\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def test_a_secret_url_never_shows_in_errors_answers_or_logs(
    make_relay: MakeRelay, sim: Simulator, not_http: int, figures: Figures, storage_url: str
) -> None:
    # `%7E` in the URL: clients print it decoded as `~`, which a plain match would miss.
    secret_url = f"http://127.0.0.1:{not_http}/services/T0SECRET/B0SECRET/xox%7Esecret-part"
    relay = make_relay(
        [{"name": "team-chat", "url_env": "CHAT_URL", "format": "slack", "timeout": 2.0}],
        env={"CHAT_URL": secret_url},
        delivery={"retry_schedule": [0.2]},
    )
    task = relay.submit(**video2video()).json()
    done = relay.wait_task(task["id"], settled, timeout=30)
    [delivery] = done["deliveries"]
    assert delivery["state"] == "dead" and delivery["last_error"]
    answers = [
        relay.api.get(f"/v1/tasks/{task['id']}").text,
        relay.api.get("/v1/deliveries").text,
        relay.anon.get("/metrics").text,
    ]
    needles = ["T0SECRET", "B0SECRET", "secret-part"]
    places = {"answers": "\n".join(answers), "log": relay.log()}
    leaks = {where: [n for n in needles if n in text] for where, text in places.items()}
    assert leaks == {"answers": [], "log": []}
    figures.record(
        "secret_url_in_errors",
        backend=backend_of(storage_url),
        last_error=delivery["last_error"],
        log_lines=len(places["log"].splitlines()),
        occurrences=0,
    )
