"""The console's preview of a filter, transform and headers (`POST /console/downstreams/
preview`, which the deliveries page asks as the operator types) against a running relay:
it takes the session, its CSRF token, the same origin and a JSON body; it answers what
`POST /v1/downstreams/preview` answers, a bad expression a 422 with its position, and never
a header's value. The form it sits beside makes the downstream with all three, sealed."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.conftest import MakeRelay
from tests.e2e.test_managed_downstreams import stored_bytes
from tests.harness import Sink, image_to_video, wait_for

ROUTE = "/console/downstreams/preview"
API_KEY = "airtable_" + "0d1e2f3a4b5c6d7e8f9a"
TOKEN = "bearer_" + "9a8b7c6d5e4f3a2b1c0d"
GOLD = 'has(event.data.metadata.tier) && event.data.metadata.tier == "gold"'
TRANSFORM = '{"body": {"fields": {"Task": event.data.task_id}}, "path": "/rows"}'


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def test_the_preview_route_takes_a_session_and_its_token_and_answers_the_apis_preview(
    make_relay: MakeRelay,
) -> None:
    relay = make_relay()
    console = relay.console()
    csrf = _csrf(console.get("/console/deliveries"))
    asked = {
        "filter": GOLD,
        "transform": TRANSFORM,
        "headers": f"Authorization: Bearer {API_KEY}\n\nX-Team: render",
        "format": "webhook",
        "type": "task.failed",
        "task_id": "",
    }

    refused = [
        console.post(ROUTE, json=asked),  # no token
        console.post(ROUTE, json={**asked, "csrf": "forged"}),
        console.post(ROUTE, json={**asked, "csrf": csrf}, headers={"Origin": "http://evil.test"}),
        console.post(ROUTE, json={**asked, "csrf": csrf}, headers={"Sec-Fetch-Site": "cross-site"}),
        httpx.post(f"{relay.url}{ROUTE}", json={**asked, "csrf": csrf}),  # no session
    ]
    assert [r.status_code for r in refused] == [403] * 5
    assert all(r.headers["content-type"] == "application/json" for r in refused)
    assert refused[0].json()["error"] == "forbidden"
    # A browser that never logged in is asked to, not told that a session ended.
    assert refused[-1].json()["detail"].startswith("log in first")
    as_form = console.post(ROUTE, data={**asked, "csrf": csrf})
    assert as_form.status_code == 400 and "JSON" in as_form.json()["detail"]

    answer = console.post(ROUTE, json={**asked, "csrf": csrf})
    assert answer.status_code == 200, answer.text
    previewed = answer.json()
    assert previewed["event"]["type"] == "task.failed" and previewed["source"] == "example"
    # An example carries no field a real event would not: no metadata, so no gold tier.
    assert previewed["event"]["data"]["metadata"] is None
    assert previewed["matched"] is False and previewed["reason"] == "filter refused the event"
    request = previewed["request"]
    assert request["method"] == "POST" and request["path"] == "/rows"
    assert request["body"] == {"fields": {"Task": "tsk_example"}}
    assert request["headers"]["Authorization"] == "***" and request["headers"]["X-Team"] == "***"
    assert API_KEY not in answer.text
    # The API's own preview answers the same for the same question.
    api = relay.api.post(
        "/v1/downstreams/preview",
        json={
            "filter": GOLD,
            "transform": TRANSFORM,
            "headers": {"Authorization": f"Bearer {API_KEY}", "X-Team": "render"},
            "type": "task.failed",
        },
    )
    assert api.json() == previewed
    # The headers shown are those the signing chosen adds, its signature masked.
    rfc = console.post(ROUTE, json={"csrf": csrf, "type": "task.failed", "signing": "rfc9421"})
    shown = rfc.json()["request"]["headers"]
    assert shown["signature"] == "sig1=:***:" and "webhook-signature" not in shown
    assert '"content-digest" "webhook-id");created=' in shown["signature-input"]
    ed = relay.api.post("/v1/downstreams/preview", json={"signing": "ed25519"})
    assert ed.json()["request"]["headers"]["webhook-signature"] == "v1a,***"
    wrong = relay.api.post("/v1/downstreams/preview", json={"signing": "rsa"})
    assert wrong.status_code == 422 and "signing" in wrong.json()["detail"]

    silver = console.post(
        ROUTE, json={"csrf": csrf, "filter": 'event.data.metadata.tier == "silver"'}
    )
    assert silver.status_code == 200
    assert silver.json()["matched"] is False and silver.json()["reason"]

    bad = console.post(ROUTE, json={"csrf": csrf, "filter": "1 +"})
    assert bad.status_code == 422, bad.text
    assert bad.json()["detail"].endswith(
        "at 1:4: the expression ends after `+`, where a value should follow"
    )
    not_a_map = console.post(ROUTE, json={"csrf": csrf, "transform": '"text"'})
    assert not_a_map.status_code == 422 and "transform" in not_a_map.json()["detail"]
    bad_line = console.post(ROUTE, json={"csrf": csrf, "headers": f"Bearer {API_KEY}"})
    assert bad_line.status_code == 422 and "line 1" in bad_line.json()["detail"]
    assert API_KEY not in bad_line.text
    gone = console.post(ROUTE, json={"csrf": csrf, "task_id": "tsk_nothere"})
    assert gone.status_code == 404


def test_the_console_form_makes_a_downstream_with_filter_transform_and_sealed_headers(
    make_relay: MakeRelay, sink: Sink, storage_url: str, tmp_path: Path
) -> None:
    relay = make_relay()
    console = relay.console()
    csrf = _csrf(console.get("/console/deliveries"))
    form = {
        "csrf": csrf,
        "name": "rows",
        "url": f"{sink.url}/rows",
        "format": "webhook",
        "events": "succeeded, failed",
        "max_per_second": "2.5",
        "filter": GOLD,
        "transform": TRANSFORM,
        "headers": f"Authorization: Bearer {API_KEY}",
    }
    wrong = console.post("/console/downstreams", data={**form, "filter": "event.data +"})
    assert wrong.status_code == 422 and "filter" in wrong.text
    assert API_KEY not in wrong.text and "type them again" in wrong.text
    assert relay.api.get("/v1/downstreams/rows").status_code == 404

    made = console.post("/console/downstreams", data=form)
    assert made.status_code == 200, made.text[:2000]
    assert 'id="secret-value"' in made.text and API_KEY not in made.text
    described = relay.api.get("/v1/downstreams/rows").json()
    assert described["filter"] == GOLD and described["transform"] == TRANSFORM
    assert described["headers"] == {"Authorization": "***"}
    assert described["max_per_second"] == 2.5
    assert API_KEY.encode() not in stored_bytes(storage_url, tmp_path)
    assert API_KEY not in console.get("/console/deliveries").text

    # Once real events exist, a preview tries them by default: the downstream's newest.
    gold = relay.submitted(**image_to_video(), metadata={"tier": "gold"})["id"]
    wait_for(lambda: sink.received("/rows/rows"))  # the transform adds /rows
    asked = {"csrf": csrf, "filter": GOLD, "downstream": "rows"}
    newest = console.post(ROUTE, json=asked).json()
    assert (newest["source"], newest["matched"]) == ("downstream", True)
    assert newest["event"]["data"]["task_id"] == gold
    newest_task = console.post(ROUTE, json={"csrf": csrf, "filter": GOLD}).json()
    assert newest_task["source"] == "task" and newest_task["event"]["data"]["task_id"] == gold

    # Its settings form: shown masked, changed, a secret left empty kept.
    page = console.get("/console/deliveries?downstream=rows").text  # its card
    assert "Authorization: ***" in page and API_KEY not in page
    edit = {
        "csrf": csrf,
        "events": "succeeded",
        "channels": "",
        "max_per_second": "",
        "filter": "",
        "transform": TRANSFORM,
        "headers": "",
        "auth_type": "bearer",
        "auth_type_was": "",
        "auth_token": TOKEN,
        "tls_client_cert": "",
        "tls_client_key": "",
        "tls_ca": "",
        "proxy": "",
    }
    clash = console.post("/console/downstreams/rows/edit", data=edit)
    assert clash.status_code == 422 and "Authorization is auth" in clash.text
    assert TOKEN not in clash.text and API_KEY not in clash.text
    changed = console.post("/console/downstreams/rows/edit", data={**edit, "headers_clear": "on"})
    assert changed.status_code == 303, changed.text
    assert "Downstream changed." in console.get(changed.headers["location"]).text
    shown = relay.api.get("/v1/downstreams/rows").json()
    assert "filter" not in shown and "max_per_second" not in shown  # emptied: unset
    assert shown["events"] == ["succeeded"] and shown["transform"] == TRANSFORM
    assert shown["headers"] == {} and shown["auth"] == {"type": "bearer", "token": "***"}
    # Saved again with the token left empty: kept, as the next delivery shows.
    again = {**edit, "auth_type_was": "bearer", "auth_token": ""}
    assert console.post("/console/downstreams/rows/edit", data=again).status_code == 303
    later = relay.submitted(**image_to_video())["id"]
    hit = wait_for(lambda: [r for r in sink.received("/rows/rows") if later in str(r.get("json"))])
    assert hit[0]["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN.encode() not in stored_bytes(storage_url, tmp_path)
