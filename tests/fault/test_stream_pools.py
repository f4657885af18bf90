"""Anonymous viewers cannot take the stream pool: share links' streams come out of a pool
of their own, with a cap per link, and past any cap the answer is a 503 with Retry-After
(never a 200 that closes empty with a traceback in the log), while the operators' streams,
the API's and the console's, keep their room. Before, one link's viewers filled
`max_streams` and the admin's stream got 503.

Figures: the answers of each stream opened, in order."""

from __future__ import annotations

import contextlib

import httpx

from tests.conftest import MakeRelay
from tests.fault.support import Figures, backend_of
from tests.harness import image_to_video, wait_for

LONG = {"promptText": "queue=1 run=600"}
POOL = {
    "max_streams": 2,
    "max_streams_per_client": 10,
    "max_share_streams": 3,
    "max_streams_per_share_link": 2,
}


def _open(stack: contextlib.ExitStack, client: httpx.Client, path: str) -> httpx.Response:
    """The stream's answer; an open one stays open until `stack` closes."""
    response = stack.enter_context(client.stream("GET", path, timeout=httpx.Timeout(15)))
    if response.status_code == 200:
        lines = response.iter_lines()
        next(lines)  # its first line: subscribed
        stack.callback(lines.close)  # held until then: a dropped iterator closes its stream
    else:
        response.read()
    return response


def test_share_streams_have_their_own_pool_and_a_cap_per_link(
    make_relay: MakeRelay, figures: Figures, storage_url: str
):
    relay = make_relay(server=POOL)
    task = relay.submit(**image_to_video(**LONG)).json()["id"]
    links = []
    for _ in range(2):
        made = relay.api.post(f"/v1/tasks/{task}/share", params={"ttl_seconds": 3600})
        links.append(made.json()["url"].rsplit("/", 1)[1])
    statuses: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        first = contextlib.ExitStack()
        stack.enter_context(first)
        assert _open(first, relay.anon, f"/share/{links[0]}/stream").status_code == 200
        assert _open(stack, relay.anon, f"/share/{links[0]}/stream").status_code == 200
        # The link's cap: 503, said so, with when to try again.
        past_link = _open(stack, relay.anon, f"/share/{links[0]}/stream")
        statuses["past_link_cap"] = past_link.status_code
        assert past_link.status_code == 503 and past_link.headers["retry-after"].isdigit()
        assert "max_streams_per_share_link" in past_link.json()["detail"]
        assert _open(stack, relay.anon, f"/share/{links[1]}/stream").status_code == 200
        # The share pool is full...
        past_pool = _open(stack, relay.anon, f"/share/{links[1]}/stream")
        statuses["past_share_pool"] = past_pool.status_code
        assert past_pool.status_code == 503 and "max_share_streams" in past_pool.json()["detail"]
        # ... and the operators' streams still open, up to their own cap.
        statuses["admin_stream"] = _open(stack, relay.api, "/v1/stream").status_code
        statuses["console_stream"] = _open(stack, relay.console(), "/console/stream").status_code
        assert statuses["admin_stream"] == statuses["console_stream"] == 200
        past_operators = _open(stack, relay.api, "/v1/stream")
        assert past_operators.status_code == 503 and "retry-after" in past_operators.headers

        # A viewer who leaves frees its place.
        first.close()

        def reopened() -> bool:
            with contextlib.ExitStack() as again:
                return _open(again, relay.anon, f"/share/{links[1]}/stream").status_code == 200

        wait_for(reopened)
    log = relay.log()
    assert "Exception in ASGI application" not in log and "Traceback" not in log
    figures.record("share_stream_pools", backend=backend_of(storage_url), statuses=statuses)
