"""`GET /v1/downstreams` a page at a time, on both backends (the pages are the store's, read
through its indexes): a cursor walks every downstream once, in name order within each
source, the config file's merged in for the admin; `limit` from 1 to 100 (100 by default),
a cursor not of this list refused (422, in words); an app's key lists its own alone; the
admin names an app's as `APP/NAME`, the name its other routes take. The app's portal and
the console page the same way, and keep each app's names apart: another app's (or a global)
downstream of the same name never hides an app's own."""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx
import pytest

from tests.conftest import MakeRelay, webhook
from tests.e2e.test_app_downstreams import _app, _made
from tests.e2e.test_portal_links import _csrf, _link, _open
from tests.harness import Relay, Sink

pytestmark = pytest.mark.every_backend


def _walk(client: httpx.Client, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Every downstream, page by page; and how many pages it took."""
    listed: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        answer = client.get("/v1/downstreams", params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert len(body["downstreams"]) <= limit
        listed += body["downstreams"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return listed, pages


def test_pages_walk_every_downstream_once_and_name_an_apps_app_slash_name(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay([webhook(sink, "cfg-b"), webhook(sink, "cfg-y"), webhook(sink, "zz")])
    alpha, beta = _app(relay, "alpha"), _app(relay, "beta")
    for n in range(4):
        _made(alpha, name=f"a{n}", url=f"{sink.url}/a{n}")
    for name in ("a0", "b1", "b2"):  # a0: alpha's name too
        _made(beta, name=name, url=f"{sink.url}/beta-{name}")
    for name in ("cfg-c", "m1", "z0"):  # global ones, between the config file's
        made = relay.api.post("/v1/downstreams", json={"name": name, "url": f"{sink.url}/{name}"})
        assert made.status_code == 201, made.text

    every = {"cfg-b", "cfg-y", "zz", "cfg-c", "m1", "z0"}
    every |= {f"alpha/a{n}" for n in range(4)} | {"beta/a0", "beta/b1", "beta/b2"}
    whole = relay.api.get("/v1/downstreams").json()
    assert whole["next_cursor"] is None
    assert {d["name"] for d in whole["downstreams"]} == every
    for limit in (1, 2, 3, 100):
        listed, pages = _walk(relay.api, limit)
        names = [d["name"] for d in listed]
        assert sorted(names) == sorted(every), limit  # each once
        assert pages == -(-len(every) // limit)  # the last page says it is the last
        # The config file's, in order among the global ones made through the API.
        globals_ = [n for n in names if "/" not in n]
        assert globals_ == sorted(globals_)
    # An app's as APP/NAME with its app, the name the admin's other routes take.
    shown = {d["name"]: d for d in whole["downstreams"]}
    assert shown["alpha/a1"]["app"] == "alpha" and shown["beta/a0"]["app"] == "beta"
    assert "app_" not in str(whole)
    assert relay.api.get("/v1/downstreams/alpha/a1").status_code == 200

    # An app's key: its own, by the names it gave them, a page at a time.
    own, pages = _walk(beta, 1)
    assert [d["name"] for d in own] == ["a0", "b1", "b2"] and pages == 3
    assert all("app" not in d for d in own)
    own, _ = _walk(alpha, 3)
    assert [d["name"] for d in own] == ["a0", "a1", "a2", "a3"]


def test_limits_and_cursors_out_of_range_are_refused_in_words(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay()
    alpha = _app(relay, "alpha")
    for n in range(103):
        _made(alpha, name=f"h{n:03d}", url=f"{sink.url}/h")
    first = alpha.get("/v1/downstreams").json()  # 100 by default
    assert len(first["downstreams"]) == 100 and first["next_cursor"]
    rest = alpha.get("/v1/downstreams", params={"cursor": first["next_cursor"]}).json()
    assert [d["name"] for d in rest["downstreams"]] == ["h100", "h101", "h102"]
    assert rest["next_cursor"] is None
    assert len(alpha.get("/v1/downstreams", params={"limit": 100}).json()["downstreams"]) == 100

    for limit in (0, -1, 101, 1000):
        refused = alpha.get("/v1/downstreams", params={"limit": limit})
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"] == f"limit: from 1 to 100; {limit} given"
    not_ours = base64.urlsafe_b64encode(b'{"after": "x"}').decode()
    for cursor in ("nonsense!", "e30", not_ours, "A" * 600):
        refused = alpha.get("/v1/downstreams", params={"cursor": cursor})
        assert refused.status_code == 422, (cursor, refused.text)
        assert refused.json()["detail"].startswith("cursor: not a cursor of this list")
    assert relay.api.get("/v1/downstreams", params={"cursor": "%%%"}).status_code == 422


def _portal(relay: Relay, client: httpx.Client) -> httpx.Client:
    session, _ = _open(relay, str(_link(client)["url"]))
    return session


def _rows(page: httpx.Response) -> list[str]:
    return re.findall(r'<tr id="row-[^"]*" data-name="([^"]+)"', page.text)


def test_the_portal_keeps_an_apps_names_its_own_beside_the_same_names_elsewhere(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay([webhook(sink, "hooks-cfg")])
    alpha, beta = _app(relay, "alpha"), _app(relay, "beta")
    _made(alpha, name="hooks", url=f"{sink.url}/alpha")
    _made(alpha, name="orders", url=f"{sink.url}/alpha-orders")
    # The same name in another app, then the operator's global one: made after alpha's.
    _made(beta, name="hooks", url=f"{sink.url}/beta")
    _made(beta, name="orders", url=f"{sink.url}/beta-orders")
    made = relay.api.post("/v1/downstreams", json={"name": "hooks", "url": f"{sink.url}/g"})
    assert made.status_code == 201, made.text

    session = _portal(relay, alpha)
    page = session.get("/portal/")
    assert _rows(page) == ["hooks", "orders"]
    assert 'href="/portal/endpoints/hooks"' in page.text
    searched = session.get("/portal/", params={"q": "HOO"})
    assert _rows(searched) == ["hooks"]
    alerts = page.text.split('id="alerts"')[1].split("</section>")[0]
    choices = re.findall(r'<option value="([^"]+)"', alerts)
    assert choices == ["hooks", "orders"]
    saved = session.post("/portal/alerts", data={"csrf": _csrf(page), "alert_downstream": "hooks"})
    assert saved.status_code == 303
    assert relay.api.get("/v1/apps/alpha").json()["alert_downstream"] == "hooks"
    # Its own endpoint's page, not another's of the name.
    own = session.get("/portal/endpoints/hooks")
    assert own.status_code == 200 and f"{sink.url}/alpha" in own.text
    assert f"{sink.url}/beta" not in own.text and f"{sink.url}/g" not in own.text

    # A page at a time: the next page after a name, the search kept.
    for n in range(55):
        _made(beta, name=f"p{n:02d}", url=f"{sink.url}/p")
    theirs = _portal(relay, beta)
    first = theirs.get("/portal/")
    assert len(_rows(first)) == 50 and _rows(first)[0] == "hooks"
    found = re.search(r'href="/portal/\?after=([^"&]+)" id="next"', first.text)
    assert found is not None and found[1] == _rows(first)[-1]
    second = theirs.get("/portal/", params={"after": found[1]})
    assert _rows(second) == [f"p{n:02d}" for n in range(48, 55)]
    assert 'id="next"' not in second.text and 'id="first"' in second.text


def test_the_consoles_downstreams_page_a_page_at_a_time(make_relay: MakeRelay, sink: Sink) -> None:
    relay = make_relay([webhook(sink, "cfg")])
    alpha = _app(relay, "alpha")
    for n in range(55):
        _made(alpha, name=f"h{n:02d}", url=f"{sink.url}/h")
    console = relay.console()
    seen: list[str] = []
    page = console.get("/console/deliveries")
    while True:
        assert page.status_code == 200, page.text
        seen += _rows(page)
        found = re.search(r'href="/console/deliveries\?cursor=([^"&]+)[^"]*" id="next"', page.text)
        if found is None:
            break
        page = console.get(f"/console/deliveries?cursor={found[1]}")
    assert len(seen) == 56 and len(set(seen)) == 56 and "cfg" in seen
    # Searched as APP/part: that app's alone.
    searched = console.get("/console/deliveries", params={"q": "alpha/h5"})
    assert len(_rows(searched)) == 5 and "cfg" not in _rows(searched)
    assert console.get("/console/deliveries", params={"cursor": "x!"}).status_code == 422
