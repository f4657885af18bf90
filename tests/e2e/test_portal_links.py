"""`POST /v1/portal-links` against a running relay, on both backends: who may make a link
(an app's key with `downstreams` for its own app, the admin for any it names; another app's
name is no such app), the link's life (15 minutes unless asked, at most a day), and a link
that opens once, before it expires, while the app has a key made before it: every refusal
an HTML page, never JSON. Revoking the app's last key, or deleting the app, ends its open
portal sessions; a key made afterwards does not bring them back."""

from __future__ import annotations

import re
import time

import httpx

from tests.conftest import MakeRelay
from tests.e2e.test_apps import app_key, make_app
from tests.e2e.test_keys import as_key
from tests.harness import Relay, Sink, wait_for


def _browser(relay: Relay) -> httpx.Client:
    return httpx.Client(base_url=relay.url, timeout=15, follow_redirects=False)


def _link(client: httpx.Client, **body: object) -> dict[str, object]:
    made = client.post("/v1/portal-links", json=body)
    assert made.status_code == 201, made.text
    return dict(made.json())


def _open(relay: Relay, url: str) -> tuple[httpx.Client, httpx.Response]:
    browser = _browser(relay)
    return browser, browser.get(str(url).removeprefix(relay.url))


def _refused(answer: httpx.Response, why: str) -> None:
    assert answer.status_code in (404, 410), answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert f'data-why="{why}"' in answer.text


def test_who_may_make_a_portal_link_and_for_how_long(make_relay: MakeRelay):
    relay = make_relay()
    make_app(relay, "render")
    make_app(relay, "other")
    render = as_key(relay, app_key(relay, "render", "render-hooks", ["downstreams"]))
    reader = as_key(relay, app_key(relay, "render", "render-read", ["tasks:read"]))
    app_key(relay, "other", "other-hooks", ["downstreams"])

    before = time.time()
    made = _link(render)
    assert str(made["url"]).startswith(f"{relay.url}/portal/open/")
    assert before + 890 <= float(str(made["expires_at"])) <= time.time() + 910
    assert _link(render, app="render", ttl_seconds=86400)["url"] != made["url"]
    assert reader.post("/v1/portal-links", json={}).status_code == 403
    assert relay.anon.post("/v1/portal-links", json={}).status_code == 401
    # Another app's name, from an app's key, is no such app.
    assert render.post("/v1/portal-links", json={"app": "other"}).status_code == 404
    assert relay.api.post("/v1/portal-links", json={"app": "none-such"}).status_code == 404
    # The admin names the app; without one it is told so.
    assert _link(relay.api, app="other")["url"]
    no_app = relay.api.post("/v1/portal-links", json={})
    assert no_app.status_code == 422 and "app" in no_app.json()["detail"]
    for ttl in (86401, 0, -5, "60", 1.5):
        answer = render.post("/v1/portal-links", json={"ttl_seconds": ttl})
        assert answer.status_code == 422 and "ttl_seconds" in answer.json()["detail"], ttl
    assert render.post("/v1/portal-links", content=b"[").status_code == 400
    assert render.post("/v1/portal-links").status_code == 400  # `{}` for the defaults
    # An app with no live key has no portal to open.
    make_app(relay, "keyless")
    assert relay.api.post("/v1/portal-links", json={"app": "keyless"}).status_code == 409
    assert "/v1/portal-links" in relay.anon.get("/openapi.json").json()["paths"]


def test_a_portal_link_opens_once_and_not_after_it_expires(make_relay: MakeRelay):
    relay = make_relay()
    make_app(relay, "render")
    render = as_key(relay, app_key(relay, "render", "render-hooks", ["downstreams"]))
    url = str(_link(render)["url"])
    browser, opened = _open(relay, url)
    assert opened.status_code == 303 and opened.headers["location"] == "/portal/"
    assert "relay_portal=" in opened.headers["set-cookie"]
    page = browser.get("/portal/")
    assert page.status_code == 200 and 'id="app-name">render<' in page.text

    _, again = _open(relay, url)
    _refused(again, "used")
    # Opened again in the browser it opened in: that session goes in.
    reopened = browser.get(url.removeprefix(relay.url))
    assert reopened.status_code == 303 and reopened.headers["location"] == "/portal/"
    _, forged = _open(relay, url[:-3] + "abc")
    _refused(forged, "forged")

    short = _link(render, ttl_seconds=10)
    ends = float(str(short["expires_at"]))
    wait_for(lambda: time.time() > ends + 0.2, timeout=30, interval=0.2)
    _refused(_open(relay, str(short["url"]))[1], "expired")


def test_revoking_the_apps_keys_ends_its_portal_and_refuses_its_links(make_relay: MakeRelay):
    relay = make_relay()
    make_app(relay, "render")
    make_app(relay, "other")
    render = as_key(relay, app_key(relay, "render", "render-hooks", ["downstreams"]))
    app_key(relay, "render", "render-spare", ["tasks:read"])
    other = as_key(relay, app_key(relay, "other", "other-hooks", ["downstreams"]))
    unopened = str(_link(render)["url"])
    session, _ = _open(relay, str(_link(render)["url"]))
    theirs, _ = _open(relay, str(_link(other)["url"]))
    assert session.get("/portal/").status_code == 200

    # One key of two revoked: the portal stays open.
    assert relay.api.delete("/v1/apps/render/keys/render-hooks").status_code == 200
    assert session.get("/portal/").status_code == 200
    # The last one: its sessions end, its links no longer open; the other app's stays.
    assert relay.api.delete("/v1/apps/render/keys/render-spare").status_code == 200
    ended = session.get("/portal/")
    assert ended.status_code == 403 and ended.headers["content-type"].startswith("text/html")
    assert "session has ended" in ended.text  # it had one: it is told so
    _refused(_open(relay, unopened)[1], "revoked")
    assert theirs.get("/portal/").status_code == 200
    # A key made afterwards does not bring back what rested on the revoked ones.
    app_key(relay, "render", "render-new", ["downstreams"])
    assert session.get("/portal/").status_code == 403

    assert relay.api.delete("/v1/apps/other").status_code == 200
    assert theirs.get("/portal/").status_code == 403


def test_the_portal_is_framed_only_by_the_origins_allowed_for_its_app(make_relay: MakeRelay):
    relay = make_relay()
    make_app(relay, "render")
    render = as_key(relay, app_key(relay, "render", "render-hooks", ["downstreams"]))
    session, _ = _open(relay, str(_link(render)["url"]))
    page = session.get("/portal/")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    refused = relay.anon.get("/portal/")
    assert "frame-ancestors 'none'" in refused.headers["content-security-policy"]

    allowed = ["https://app.example.com", "https://*.example.org:8443"]
    changed = relay.api.patch("/v1/apps/render", json={"portal_frame_ancestors": allowed})
    assert changed.status_code == 200 and changed.json()["portal_frame_ancestors"] == allowed
    page = session.get("/portal/")
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors https://app.example.com https://*.example.org:8443" in policy
    assert "x-frame-options" not in page.headers
    for bad in (["https://x.example/path"], ["javascript:alert(1)"], ["*"], "https://x.example"):
        answer = relay.api.patch("/v1/apps/render", json={"portal_frame_ancestors": bad})
        assert answer.status_code == 422, bad
    assert (
        relay.api.patch("/v1/apps/render", json={"portal_frame_ancestors": []}).json()[
            "portal_frame_ancestors"
        ]
        == []
    )
    assert "frame-ancestors 'none'" in session.get("/portal/").headers["content-security-policy"]


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text[:2000]
    return found[1]


def test_the_portals_forms_say_a_refusal_in_the_owners_words(make_relay: MakeRelay, sink: Sink):
    """A bad filter is refused in the words of the form (no `body: downstream '...'`), the
    edit's beside its endpoint; the states are checkboxes; a pull endpoint is sent no test."""
    relay = make_relay()
    make_app(relay, "render")
    render = as_key(relay, app_key(relay, "render", "render-hooks", ["downstreams"]))
    orders = {"name": "orders", "url": f"{sink.url}/orders"}
    assert render.post("/v1/downstreams", json=orders).status_code == 201
    assert (
        render.post("/v1/downstreams", json={"name": "inbox", "format": "pull"}).status_code == 201
    )
    session, _ = _open(relay, str(_link(render)["url"]))
    csrf = _csrf(session.get("/portal/"))
    bad = "event.type =="

    made = session.post(
        "/portal/endpoints",
        data={"csrf": csrf, "name": "bad", "url": f"{sink.url}/bad", "filter": bad},
    )
    said = re.search(r'id="create-error">([^<]+)<', made.text)
    assert made.status_code == 422 and said is not None, made.text[:2000]
    assert said[1].startswith("filter is not valid CEL"), said[1]

    edit = {"csrf": csrf, "filter": bad, "transform": "", "headers": ""}
    changed = session.post("/portal/endpoints/orders/edit", data=edit)
    said = re.search(r'id="edit-error-orders"[^>]*>([^<]+)<', changed.text)
    assert changed.status_code == 422 and said is not None, changed.text[:2000]
    assert said[1].startswith("Not saved: filter is not valid CEL"), said[1]
    assert "body:" not in said[1] and "downstream" not in said[1]

    states = {"csrf": csrf, "events_asked": "yes", "event.failed": "on", "event.progress": "on"}
    assert session.post("/portal/endpoints/orders/edit", data=states).status_code == 303
    assert render.get("/v1/downstreams/orders").json()["events"] == ["failed", "progress"]

    tested = session.post("/portal/endpoints/inbox/test", data={"csrf": csrf})
    assert tested.status_code == 422 and "read by pull" in tested.text
    # A pull endpoint made here is given the URL it is read at, and no secret to keep.
    pull = {"csrf": csrf, "name": "queue", "format": "pull", "events_asked": "yes"}
    made = session.post("/portal/endpoints", data={**pull, "event.succeeded": "on"})
    assert made.status_code == 200 and 'id="made-pull"' in made.text
    assert "/v1/downstreams/queue/events" in made.text and "secret-value" not in made.text
    assert render.get("/v1/downstreams/queue").json()["events"] == ["succeeded"]
    hook = {"csrf": csrf, "name": "hook", "url": f"{sink.url}/hook"}
    made = session.post("/portal/endpoints", data=hook)
    assert made.status_code == 200 and 'id="secret-value">whsec_' in made.text, made.text[:3000]
