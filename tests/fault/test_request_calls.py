"""The calls to a tenant's URL that requests make the relay wait on are bounded per app and
per key (receiver/kernel/net/request_calls.py), at every door.

Before, 1,050 concurrent validates of one key for an endpoint whose OPTIONS never answers
held 999 sockets at the target and got another app's `GET /v1/downstreams` a 503, and one
key with 16 threads made the relay send 460 OPTIONS a second to a URL of its choosing. Now
300 such validates hold the app's few sockets (at most 64 asked; 4 by default) and the rest
are refused at once with 429 and `Retry-After`; the app's test events, from the API and its
portal, wait in the same room; another app's list and its own validate answer meanwhile;
and one key makes the relay ask at most 10 OPTIONS within any second (as the relay counts
them: the sink, which sees them a little later, holds the count over the run to that).
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from tests.conftest import MakeRelay
from tests.e2e.test_app_downstreams import _app, _made
from tests.fault.support import Figures
from tests.harness import Sink, wait_for

pytestmark = pytest.mark.fault

VALIDATES = 300
MOST_SOCKETS = 64  # as the issue asks
PER_APP = 4  # server.request_calls_per_app's default
PER_SECOND = 10  # server.request_calls_per_key_per_second's default
THREADS = 16
OPTIONS_SEEN = 61  # six seconds' worth at the rate, at least
# The sink notes each OPTIONS when it arrives, which is some time after the relay counted it
# (under this load, up to half a second was seen): the count over the whole run is held to
# the rate, give or take this much delay.
MOST_DELAY = 1.0


@dataclass
class Silent:
    """A loopback server that accepts connections, reads nothing and never answers."""

    port: int
    accepted: int = 0
    held: list[socket.socket] = field(default_factory=list)


@contextmanager
def silent_server() -> Iterator[Silent]:
    server = socket.create_server(("127.0.0.1", 0), backlog=1024)
    silent = Silent(server.getsockname()[1])
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            silent.accepted += 1
            silent.held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield silent
    finally:
        stop.set()
        thread.join()
        for conn in silent.held:  # the relay's calls waiting on them end now
            conn.close()
        server.close()


def _bearer(client: httpx.Client) -> str:
    return client.headers["Authorization"]


async def _validates(url: str, bearer: str, count: int, answers: list[httpx.Response]) -> None:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
    headers = {"Authorization": bearer}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=120) as c:

        async def one() -> None:
            answers.append(await c.post("/v1/downstreams/ce/validate"))

        await asyncio.gather(*(one() for _ in range(count)))


def _told_to_wait(answer: httpx.Response) -> bool:
    if answer.status_code != 429:
        return False
    body = answer.json()
    retry = answer.headers.get("Retry-After", "")
    return (
        body["error"] == "limit_reached"
        and body["limit"] == "server.request_calls_per_app"
        and "calls to its downstreams in flight" in body["detail"]
        and retry.isdigit()
        and int(retry) >= 1
    )


def _portal(relay_url: str, app: httpx.Client) -> tuple[httpx.Client, str]:
    link = app.post("/v1/portal-links", json={}).json()["url"]
    browser = httpx.Client(base_url=relay_url, timeout=30)
    browser.get(str(link).removeprefix(relay_url))
    found = re.search(r'name="csrf" value="([^"]+)"', browser.get("/portal/endpoints/ce").text)
    assert found is not None
    return browser, found[1]


def test_a_keys_validates_hold_a_few_sockets_and_cost_another_app_nothing(
    make_relay: MakeRelay, sink: Sink, figures: Figures
) -> None:
    # A downstream may wait 55 s on its endpoint, as in the issue (below the attempt lease).
    relay = make_relay(delivery={"lease_seconds": 70})
    alpha, beta = _app(relay, "alpha"), _app(relay, "beta")
    sink.mode(allowed_origin="*")
    _made(beta, name="ce", url=f"{sink.url}/ce", envelope="cloudevents")
    with silent_server() as silent:
        target = f"http://127.0.0.1:{silent.port}/ce"
        _made(alpha, name="ce", url=target, envelope="cloudevents", timeout=55)
        browser, csrf = _portal(relay.url, alpha)
        answers: list[httpx.Response] = []
        flood = threading.Thread(
            target=asyncio.run,
            args=(_validates(relay.url, _bearer(alpha), VALIDATES, answers),),
            daemon=True,
        )
        flood.start()
        # The app's room is full and every other validate is refused at once.
        wait_for(lambda: silent.accepted >= PER_APP and len(answers) >= VALIDATES - PER_APP)
        refused = list(answers)
        assert all(_told_to_wait(a) for a in refused), Counter(a.status_code for a in refused)

        # Another app's list and its own validate answer meanwhile, as does the admin's list.
        assert beta.get("/v1/downstreams").status_code == 200
        theirs = beta.post("/v1/downstreams/ce/validate")
        assert theirs.status_code == 200 and theirs.json()["allowed"] is True, theirs.text
        assert relay.api.get("/v1/downstreams").status_code == 200

        # The app's test events wait in the same room: from the API and from its portal.
        tested = alpha.post("/v1/downstreams/ce/test", json={})
        assert _told_to_wait(tested), tested.text
        page = browser.post("/portal/endpoints/ce/test", data={"csrf": csrf})
        assert page.status_code == 429 and page.headers["Retry-After"].isdigit(), page.text[:500]
        assert "calls to its downstreams in flight" in page.text
        sockets = silent.accepted
        assert sockets <= PER_APP <= MOST_SOCKETS, sockets
    flood.join()  # the silent server's sockets closed: the calls waiting on them end
    waited = [a for a in answers if a.status_code == 200]
    assert len(waited) == PER_APP and not any(a.json()["allowed"] for a in waited)
    figures.record(
        "request_calls_per_app",
        validates=VALIDATES,
        sockets_at_target=sockets,
        refused_429=len(answers) - len(waited),
        retry_after_s=sorted({int(a.headers["Retry-After"]) for a in refused}),
    )


def test_one_key_makes_the_relay_ask_at_most_ten_options_a_second(
    make_relay: MakeRelay, sink: Sink, figures: Figures
) -> None:
    relay = make_relay()
    alpha = _app(relay, "alpha")
    sink.mode(allowed_origin="*")
    _made(alpha, name="ce", url=f"{sink.url}/ce", envelope="cloudevents")
    stop = threading.Event()
    statuses: Counter[int] = Counter()

    def hammer() -> None:
        with httpx.Client(base_url=relay.url, headers=alpha.headers, timeout=30) as client:
            while not stop.is_set():
                statuses[client.post("/v1/downstreams/ce/validate").status_code] += 1

    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(THREADS)]
    for thread in threads:
        thread.start()

    def options() -> list[float]:
        return sorted(h["received_at"] for h in sink.received("/ce") if h["method"] == "OPTIONS")

    try:
        wait_for(lambda: len(options()) >= OPTIONS_SEEN)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    times = options()
    # At most ten within any second as the relay counts them: within the span the sink saw,
    # widened by the delay at either end, a second's ten for each second begun.
    span = times[-1] - times[0]
    assert len(times) <= PER_SECOND * (span + MOST_DELAY + 1), (len(times), span)
    assert set(statuses) <= {200, 429} and statuses[429] > 0, statuses
    spans = [times[n + PER_SECOND] - times[n] for n in range(len(times) - PER_SECOND)]
    figures.record(
        "request_calls_per_key",
        threads=THREADS,
        options_sent=len(times),
        seconds=round(span, 2),
        options_per_s=round((len(times) - 1) / span, 2),
        shortest_span_of_11_s=round(min(spans), 3),
        answers=dict(statuses),
    )
