"""An app's portal lists its deliveries a page at a time, each with its event's type: past
50 rows an "Older" link, whose page takes the rest (the filters kept), and "Newest" back;
the admin API pages the same way (`before`)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import MakeRelay
from tests.e2e.test_app_downstreams import _app, _made
from tests.harness import Sink, image_to_video, settled, wait_for

HOOKS = 4
TASKS = 13  # 52 deliveries: a page of 50 and two older

# The pages' cursor is a row value compared in SQL: on each backend.
pytestmark = pytest.mark.every_backend


def test_the_portals_deliveries_page_by_page_with_their_event_types(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay()
    alpha = _app(relay, "alpha")
    for n in range(HOOKS):
        _made(alpha, name=f"hook-{n}", url=f"{sink.url}/{n}", events=["succeeded"])
    ids = [alpha.post("/v1/tasks", json=image_to_video()).json()["id"] for _ in range(TASKS)]
    for task_id in ids:
        relay.wait_task(task_id, settled)
    wait_for(lambda: len(sink.accepted()) >= HOOKS * TASKS)

    link = alpha.post("/v1/portal-links", json={})
    assert link.status_code == 201, link.text
    browser = httpx.Client(base_url=relay.url, timeout=30)
    browser.get(str(link.json()["url"]).removeprefix(relay.url))
    first = browser.get("/portal/deliveries")
    assert first.status_code == 200, first.text
    rows = re.findall(r'<tr id="delivery-([^"]+)"', first.text)
    assert len(rows) == 50
    assert first.text.count('<td data-label="Event" class="event-type">task.succeeded</td>') == 50
    older = re.search(r'href="/portal/deliveries\?before=([^"&]+)" id="older"', first.text)
    assert older is not None and older[1] == rows[-1] and 'id="newest"' not in first.text

    second = browser.get("/portal/deliveries", params={"before": older[1]})
    rest = re.findall(r'<tr id="delivery-([^"]+)"', second.text)
    assert len(rest) == 2 and not set(rest) & set(rows)
    assert 'id="older"' not in second.text and 'id="newest"' in second.text
    # The filters go with the pages.
    one = browser.get("/portal/deliveries", params={"endpoint": "hook-0"})
    assert len(re.findall(r'<tr id="delivery-', one.text)) == TASKS and 'id="older"' not in one.text
    refused = browser.get("/portal/deliveries", params={"before": "x" * 65})
    assert refused.status_code == 400 and "before must be a delivery id" in refused.text

    # The API's pages: `before` a delivery's id.
    page = alpha.get("/v1/deliveries", params={"limit": 30}).json()["deliveries"]
    after = alpha.get("/v1/deliveries", params={"before": page[-1]["id"]}).json()["deliveries"]
    assert len(page) == 30 and len(after) == 22
    assert {d["id"] for d in page} | {d["id"] for d in after} == set(rows) | set(rest)
    admin = relay.api.get("/v1/deliveries", params={"before": page[-1]["id"]}).json()
    assert [d["id"] for d in admin["deliveries"]] == [d["id"] for d in after]
