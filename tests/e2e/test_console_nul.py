"""NUL in what the console and the portal are sent, on both backends: a form's field, a
path part or a query parameter holding NUL is a 422 page naming it, never a 500 (which
PostgreSQL's refusal of NUL in a lookup made of a task's or a delivery's page) and never a
stored NUL. The rule is the one a JSON body meets at /v1 (receiver/kernel/http/body.py)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import MakeRelay
from tests.e2e.test_apps import app_key, make_app
from tests.e2e.test_keys import as_key
from tests.e2e.test_portal_links import _link, _open

pytestmark = pytest.mark.every_backend


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def _refused(answer: httpx.Response, field: str) -> None:
    assert answer.status_code == 422, (answer.status_code, answer.text[:500])
    assert answer.headers["content-type"].startswith("text/html")
    assert f"{field}: must not contain NUL" in answer.text


def test_nul_in_a_console_address_or_form_is_a_422_naming_it(make_relay: MakeRelay) -> None:
    relay = make_relay()
    console = relay.console()
    _refused(console.get("/console/tasks/tsk_%00x"), "task_id")
    _refused(console.get("/console/tasks?q=cat%00"), "q.0")
    _refused(console.get("/console/deliveries?downstream=a%00"), "downstream.0")
    _refused(console.get("/console/stream?task_id=a%00"), "task_id.0")
    csrf = _csrf(console.get("/console/deliveries"))
    _refused(console.post("/console/tasks/tsk_%00/cancel", data={"csrf": csrf}), "task_id")
    made = console.post(
        "/console/tasks",
        data={
            "csrf": csrf,
            "kind": "video2video",
            "prompt": "a\x00cat",
            "source": "https://x.invalid/a.mp4",
        },
    )
    _refused(made, "prompt")
    assert relay.api.get("/v1/tasks").json()["tasks"] == []
    assert console.get("/console/tasks").status_code == 200  # the console still answers


def test_nul_in_a_portal_address_or_form_is_a_422_naming_it(make_relay: MakeRelay) -> None:
    relay = make_relay()
    make_app(relay, "render")
    render = as_key(relay, app_key(relay, "render", "render-hooks", ["downstreams"]))
    browser, _ = _open(relay, str(_link(render)["url"]))
    _refused(browser.get("/portal/deliveries/dlv_%00"), "delivery_id")
    _refused(browser.get("/portal/deliveries?endpoint=a%00"), "endpoint.0")
    csrf = _csrf(browser.get("/portal/"))
    fields = {"csrf": csrf, "name": "crm\x00", "url": "https://example.invalid/hook"}
    _refused(browser.post("/portal/endpoints", data=fields), "name")
    assert render.get("/v1/downstreams").json()["downstreams"] == []
    _refused(browser.post("/portal/endpoints/a%00/disable", data={"csrf": csrf}), "name")
    assert browser.get("/portal/").status_code == 200
