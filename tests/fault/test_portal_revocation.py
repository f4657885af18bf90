"""An app's portal sessions end when its last key is revoked or the app is deleted: on the
replica that revoked at once, and on another replica (PostgreSQL) at the session's next
request, since each request reads the app and its keys from the store; a link opens once
across replicas too.

Figures: seconds from the revocation's answer to the first refused portal page."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import MakeRelay
from tests.e2e.test_apps import app_key, make_app
from tests.e2e.test_keys import as_key
from tests.fault.support import Figures, backend_of
from tests.harness import Relay, wait_for


def _session(relay: Relay, link: str) -> httpx.Client:
    browser = httpx.Client(base_url=relay.url, timeout=15, follow_redirects=False)
    assert browser.get("/portal/" + link.split("/portal/", 1)[1]).status_code == 303
    return browser


def _link(relay: Relay, key: str) -> str:
    made = as_key(relay, key).post("/v1/portal-links", json={})
    assert made.status_code == 201, made.text
    return str(made.json()["url"])


def _ended_within(client: httpx.Client, since: float) -> float:
    wait_for(lambda: client.get("/portal/").status_code == 403, interval=0.02)
    return round(time.monotonic() - since, 3)


def test_revoking_an_apps_last_key_ends_its_portal_sessions(
    make_relay: MakeRelay, figures: Figures, storage_url: str
):
    relay = make_relay()
    make_app(relay, "render")
    make_app(relay, "other")
    key = app_key(relay, "render", "render-hooks", ["downstreams"])
    other = _session(relay, _link(relay, app_key(relay, "other", "other-hooks", ["downstreams"])))
    mine = _session(relay, _link(relay, key))
    assert mine.get("/portal/").status_code == 200
    revoked = time.monotonic()
    assert relay.api.delete("/v1/apps/render/keys/render-hooks").status_code == 200
    seconds = {"revoked_key": _ended_within(mine, revoked)}
    assert other.get("/portal/").status_code == 200
    deleted = time.monotonic()
    assert relay.api.delete("/v1/apps/other").status_code == 200
    seconds["deleted_app"] = _ended_within(other, deleted)
    figures.record("portal_revocation_same_replica", backend=backend_of(storage_url), **seconds)


@pytest.mark.postgres
def test_a_key_revoked_on_one_replica_ends_the_apps_portal_on_another(
    make_relay: MakeRelay, figures: Figures, storage_url: str
):
    if backend_of(storage_url) != "postgres":
        pytest.skip("replicas share one PostgreSQL store; SQLite is one process by design")
    here, there = make_relay(), make_relay()
    make_app(here, "render")
    key = app_key(here, "render", "render-hooks", ["downstreams"])
    link = _link(here, key)
    session = _session(there, link)  # made on one replica, opened on the other
    # Opened there, it opens here no more; the session's cookie works on either replica.
    again = httpx.Client(base_url=here.url, timeout=15, follow_redirects=False)
    assert again.get("/portal/open/" + link.rsplit("/", 1)[1]).status_code == 410
    same_cookie = httpx.Client(base_url=here.url, cookies=session.cookies, timeout=15)
    assert same_cookie.get("/portal/").status_code == 200
    assert session.get("/portal/").status_code == 200

    revoked = time.monotonic()
    assert here.api.delete("/v1/apps/render/keys/render-hooks").status_code == 200
    seconds = _ended_within(session, revoked)
    assert same_cookie.get("/portal/").status_code == 403
    figures.record("portal_revocation_other_replica", backend="postgres", seconds=seconds)
