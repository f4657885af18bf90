"""Revocation ends open live streams: a revoked key's `/v1/stream` and its share links'
streams, a logged-out or expired console session's stream, on the replica that revoked
at once and on another replica (PostgreSQL) within the revocation bound. Before, a revoked
key's stream kept streaming, an admin-scoped one other keys' events too. Another replica's
streams carry nothing recorded after the revocation (before, one event more could go).

Figures: seconds from the revocation's answer to each stream's end."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import MakeRelay
from tests.e2e.test_keys import as_key, make_key
from tests.fault.streams import Watch, csrf_of
from tests.fault.support import Figures, backend_of
from tests.harness import image_to_video, wait_for

# A task that runs far longer than the test: its share link's stream stays open.
LONG = {"promptText": "queue=1 run=600"}


def _share(client, task_id: str) -> str:
    made = client.post(f"/v1/tasks/{task_id}/share", params={"ttl_seconds": 3600})
    assert made.status_code == 201, made.text
    return str(made.json()["url"]).rsplit("/", 1)[1]


def test_revoking_a_key_ends_its_streams_and_its_links_streams(
    make_relay: MakeRelay, figures: Figures, storage_url: str
):
    relay = make_relay()
    app = as_key(relay, make_key(relay, "render-app", "tasks:read", "tasks:submit"))
    boss = as_key(relay, make_key(relay, "ops-bot", "admin"))
    task = app.post("/v1/tasks", json=image_to_video(**LONG)).json()["id"]
    token = _share(app, task)
    admins_link = _share(relay.api, task)

    own = Watch(app, "/v1/stream")
    one_task = Watch(app, f"/v1/stream?task_id={task}")
    shared = Watch(relay.anon, f"/share/{token}/stream")
    by_admin_key = Watch(boss, "/v1/stream")
    by_admin_token = Watch(relay.api, "/v1/stream")
    admin_shared = Watch(relay.anon, f"/share/{admins_link}/stream")

    revoked = time.monotonic()
    assert relay.api.delete("/v1/keys/render-app").status_code == 200
    ended = {
        "own_stream": own.ended_within(revoked),
        "task_stream": one_task.ended_within(revoked),
        "share_stream": shared.ended_within(revoked),
    }
    # Other holders' streams stay open.
    assert by_admin_key.open and by_admin_token.open and admin_shared.open

    # An admin-scoped key's stream, which carries every key's tasks, ends as well; what
    # happens after its revocation reaches it no more.
    revoked = time.monotonic()
    assert relay.api.delete("/v1/keys/ops-bot").status_code == 200
    ended["admin_key_stream"] = by_admin_key.ended_within(revoked)
    seen = len(by_admin_key.events())
    relay.submit(**image_to_video())
    assert len(by_admin_key.events()) == seen
    assert by_admin_token.open and admin_shared.open
    for watch in (by_admin_token, admin_shared):
        watch.close()
    figures.record("stream_revocation_same_replica", backend=backend_of(storage_url), seconds=ended)


def test_a_logout_ends_the_sessions_console_stream(
    make_relay: MakeRelay, figures: Figures, storage_url: str
):
    relay = make_relay()
    console = relay.console()
    other = relay.console()  # another login: its stream outlives this logout
    mine = Watch(console, "/console/stream")
    theirs = Watch(other, "/console/stream")
    csrf = csrf_of(console.get("/console/").text)
    logged_out = time.monotonic()
    assert console.post("/console/logout", data={"csrf": csrf}).status_code == 303
    seconds = mine.ended_within(logged_out)
    assert theirs.open
    theirs.close()
    figures.record("stream_logout", backend=backend_of(storage_url), seconds=seconds)


def test_an_expired_sessions_console_stream_ends(make_relay: MakeRelay):
    relay = make_relay(console={"session_seconds": 4})
    console = relay.console()
    started = time.monotonic()
    watch = Watch(console, "/console/stream")
    watch.ended_within(started)


@pytest.mark.postgres
def test_a_key_revoked_on_one_replica_ends_its_streams_on_another(
    make_relay: MakeRelay, figures: Figures, storage_url: str
):
    if backend_of(storage_url) != "postgres":
        pytest.skip("replicas share one PostgreSQL store; SQLite is one process by design")
    here, there = make_relay(), make_relay()
    app = as_key(here, make_key(here, "render-app", "tasks:read", "tasks:submit"))
    app_there = as_key(there, app.headers["Authorization"].removeprefix("Bearer "))
    task = app.post("/v1/tasks", json=image_to_video(**LONG)).json()["id"]
    token = _share(app, task)
    streams = {
        "stream_there": Watch(app_there, "/v1/stream"),
        "share_stream_there": Watch(there.anon, f"/share/{token}/stream"),
    }
    console = there.console()
    csrf = csrf_of(console.get("/console/").text)
    console_there = Watch(console, "/console/stream")

    revoked = time.monotonic()
    assert here.api.delete("/v1/keys/render-app").status_code == 200
    ended = {name: watch.ended_within(revoked) for name, watch in streams.items()}
    assert console_there.open  # the admin's own session

    # A logout on the other replica ends the stream of that session here.
    same_cookie = httpx.Client(base_url=here.url, cookies=console.cookies, timeout=15)
    console_here = Watch(same_cookie, "/console/stream")
    logged_out = time.monotonic()
    assert console.post("/console/logout", data={"csrf": csrf}).status_code == 303
    ended["console_stream_other_replica"] = console_here.ended_within(logged_out)
    figures.record("stream_revocation_other_replica", backend="postgres", seconds=ended)


@pytest.mark.postgres
def test_after_a_revocation_on_one_replica_another_sends_its_streams_nothing_more(
    make_relay: MakeRelay, storage_url: str
):
    if backend_of(storage_url) != "postgres":
        pytest.skip("replicas share one PostgreSQL store; SQLite is one process by design")
    here, there = make_relay(), make_relay()
    boss = as_key(there, make_key(here, "ops-bot", "admin"))
    console = there.console()
    csrf = csrf_of(console.get("/console/").text)
    # The admin token's stream, which nothing ends, says when `there` handed a read over.
    handed = Watch(there.api, "/v1/stream")
    by_key = Watch(boss, "/v1/stream")
    by_session = Watch(console, "/console/stream")

    def carried(watch: Watch, task_id: str) -> bool:
        return any(task_id in line for line in watch.lines)

    def recorded_here() -> str:
        made = here.submit(**image_to_video(**LONG))
        assert made.status_code == 202, made.text
        task_id = str(made.json()["id"])
        wait_for(lambda: carried(handed, task_id))
        return task_id

    first = recorded_here()
    wait_for(lambda: carried(by_key, first) and carried(by_session, first))
    # Each right ends just after `there` handed a read over, so that one of the two falls
    # where, before, it read the feed without checking the rights first.
    revoked = time.monotonic()
    assert here.api.delete("/v1/keys/ops-bot").status_code == 200
    after_revocation = recorded_here()
    same_cookie = httpx.Client(base_url=here.url, cookies=console.cookies, timeout=15)
    assert same_cookie.post("/console/logout", data={"csrf": csrf}).status_code == 303
    after_logout = recorded_here()
    by_key.ended_within(revoked)
    by_session.ended_within(revoked)
    assert not carried(by_key, after_revocation) and not carried(by_key, after_logout)
    assert not carried(by_session, after_logout)
    assert handed.open
    handed.close()
