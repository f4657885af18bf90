"""Downstreams per app, on both backends: one made with an app's key is that app's and
takes only its tasks' events; names are unique per app; another app's downstream (or a
global one) is no such downstream on every downstream route; the config file's and the
admin's global ones take every task's events and are not shown to apps; the admin makes
one for an app with `owner` and sees every one with its app."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from tests.conftest import MakeRelay, webhook
from tests.e2e.test_apps import app_key, make_app
from tests.e2e.test_keys import as_key
from tests.harness import Relay, Sink, image_to_video, settled, wait_for

TASKS_EACH = 100  # as the issue asks: 100 tasks an app
SCOPES = ["tasks:submit", "tasks:read", "downstreams"]


def _succeeded(sink: Sink, path: str) -> set[str]:
    return {
        json.loads(h["body"])["data"]["task_id"]
        for h in sink.accepted(path)
        if json.loads(h["body"])["type"] == "task.succeeded"
    }


def _app(relay: Relay, name: str) -> httpx.Client:
    make_app(relay, name)
    return as_key(relay, app_key(relay, name, f"{name}-key", SCOPES))


def _made(client: httpx.Client, **settings: Any) -> dict[str, Any]:
    answer = client.post("/v1/downstreams", json=settings)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_each_apps_downstream_takes_exactly_its_own_apps_events(make_relay: MakeRelay, sink: Sink):
    relay = make_relay([webhook(sink, "global")])
    alpha, beta = _app(relay, "alpha"), _app(relay, "beta")
    # The same name in two apps: two downstreams.
    made = _made(alpha, name="hooks", url=f"{sink.url}/alpha", events=["succeeded"])
    assert made["name"] == "hooks" and "app" not in made
    _made(beta, name="hooks", url=f"{sink.url}/beta", events=["succeeded"])
    assert (
        alpha.post("/v1/downstreams", json={"name": "hooks", "url": f"{sink.url}/x"}).status_code
        == 409
    )

    ids: dict[str, set[str]] = {"alpha": set(), "beta": set()}
    for _ in range(TASKS_EACH):
        for name, client in (("alpha", alpha), ("beta", beta)):
            answer = client.post("/v1/tasks", json=image_to_video())
            assert answer.status_code == 202, answer.text
            ids[name].add(answer.json()["id"])
    every = ids["alpha"] | ids["beta"]
    for task_id in every:
        relay.wait_task(task_id, settled)
    wait_for(lambda: _succeeded(sink, "/global") >= every)
    wait_for(lambda: _succeeded(sink, "/alpha") >= ids["alpha"])
    wait_for(lambda: _succeeded(sink, "/beta") >= ids["beta"])
    assert _succeeded(sink, "/alpha") == ids["alpha"]
    assert _succeeded(sink, "/beta") == ids["beta"]
    assert _succeeded(sink, "/global") == every


def test_another_apps_downstream_is_no_such_downstream(make_relay: MakeRelay, sink: Sink):
    relay = make_relay([webhook(sink, "global")])
    alpha, beta = _app(relay, "alpha"), _app(relay, "beta")
    _made(alpha, name="mine", url=f"{sink.url}/alpha", events=["succeeded"])
    _made(beta, name="theirs", url=f"{sink.url}/beta", events=["succeeded"])
    admin_made = relay.api.post(
        "/v1/downstreams", json={"name": "shared", "url": f"{sink.url}/shared"}
    )
    assert admin_made.status_code == 201, admin_made.text

    listed = [d["name"] for d in alpha.get("/v1/downstreams").json()["downstreams"]]
    assert listed == ["mine"]
    for name in ("theirs", "global", "shared", "none-such"):
        path = f"/v1/downstreams/{name}"
        for method, url, body in (
            ("GET", path, None),
            ("PATCH", path, {"events": ["failed"]}),
            ("POST", f"{path}/rotate-secret", None),
            ("POST", f"{path}/disable", None),
            ("POST", f"{path}/enable", None),
            ("DELETE", path, None),
        ):
            answer = alpha.request(method, url, json=body)
            assert answer.status_code == 404, (method, url, answer.text)
            assert "app_" not in answer.text and "key_" not in answer.text
    # Still there, untouched, for their owners.
    assert beta.get("/v1/downstreams/theirs").status_code == 200
    for own in ("GET", "PATCH"):
        body = {"events": ["succeeded", "failed"]} if own == "PATCH" else None
        assert alpha.request(own, "/v1/downstreams/mine", json=body).status_code == 200
    assert alpha.post("/v1/downstreams/mine/disable").status_code == 200
    assert alpha.post("/v1/downstreams/mine/enable").status_code == 200
    assert alpha.post("/v1/downstreams/mine/rotate-secret").status_code == 200

    # The admin sees every one, an app's with its app, and makes one for an app.
    every = {d["name"]: d for d in relay.api.get("/v1/downstreams").json()["downstreams"]}
    apps = sorted(d.get("app") or "" for d in every.values())
    assert apps == ["", "", "alpha", "beta"]
    for_beta = relay.api.post(
        "/v1/downstreams", json={"name": "given", "url": f"{sink.url}/g", "owner": "beta"}
    )
    assert for_beta.status_code == 201 and for_beta.json()["app"] == "beta", for_beta.text
    assert beta.get("/v1/downstreams/given").status_code == 200
    assert alpha.get("/v1/downstreams/given").status_code == 404
    refused = alpha.post("/v1/downstreams", json={"name": "x", "url": sink.url, "owner": "beta"})
    assert refused.status_code == 422
    no_app = relay.api.post("/v1/downstreams", json={"name": "y", "url": sink.url, "owner": "zz"})
    assert no_app.status_code == 422
    assert alpha.delete("/v1/downstreams/mine").status_code == 200


def test_an_apps_downstreams_go_with_it(make_relay: MakeRelay, sink: Sink):
    relay = make_relay()
    alpha = _app(relay, "alpha")
    _made(alpha, name="mine", url=f"{sink.url}/alpha")
    assert len(relay.api.get("/v1/downstreams").json()["downstreams"]) == 1
    assert relay.api.delete("/v1/apps/alpha").status_code == 200
    assert relay.api.get("/v1/downstreams").json()["downstreams"] == []
    # A new app of the name starts with none.
    again = _app(relay, "alpha")
    assert again.get("/v1/downstreams").json()["downstreams"] == []


def test_an_app_reads_and_replays_only_its_own_deliveries(make_relay: MakeRelay, sink: Sink):
    relay = make_relay([webhook(sink, "global")])
    alpha, beta = _app(relay, "alpha"), _app(relay, "beta")
    _made(alpha, name="hooks", url=f"{sink.url}/alpha", events=["succeeded"])
    _made(beta, name="hooks", url=f"{sink.url}/beta", events=["succeeded"])
    mine = alpha.post("/v1/tasks", json=image_to_video(webhook=f"{sink.url}/alpha-own"))
    theirs = beta.post("/v1/tasks", json=image_to_video())
    assert mine.status_code == theirs.status_code == 202, (mine.text, theirs.text)
    mine_id, theirs_id = mine.json()["id"], theirs.json()["id"]
    for task_id in (mine_id, theirs_id):
        relay.wait_task(task_id, settled)
    wait_for(lambda: _succeeded(sink, "/alpha") == {mine_id})
    wait_for(lambda: _succeeded(sink, "/alpha-own") == {mine_id})
    wait_for(lambda: _succeeded(sink, "/beta") == {theirs_id})

    def delivered(client: httpx.Client, query: str = "") -> list[dict[str, Any]]:
        answer = client.get(f"/v1/deliveries{query}")
        assert answer.status_code == 200, answer.text
        return list(answer.json()["deliveries"])

    wait_for(lambda: {d["downstream"] for d in delivered(alpha)} == {"hooks", "task-webhook"})
    own = delivered(alpha)
    assert {d["task_id"] for d in own} == {mine_id}
    assert {d["task_id"] for d in delivered(alpha, "?downstream=hooks")} == {mine_id}
    assert delivered(alpha, f"?task_id={theirs_id}") == []
    assert delivered(alpha, "?downstream=global") == []
    everyone = delivered(relay.api)
    assert {d["task_id"] for d in everyone} == {mine_id, theirs_id}

    # The task's attempts: its own downstreams' and webhook's, with status and latency.
    detail = alpha.get(f"/v1/tasks/{mine_id}").json()
    assert {a["downstream"] for a in detail["attempts"]} == {"hooks", "task-webhook"}
    assert all(a["status"] == 200 and a["latency_ms"] >= 0 for a in detail["attempts"])
    assert {d["downstream"] for d in detail["deliveries"]} == {"hooks", "task-webhook"}

    # Replays: its own, yes; another app's delivery or downstream, no such thing.
    theirs_delivery = next(d["id"] for d in everyone if d["task_id"] == theirs_id)
    assert alpha.post(f"/v1/deliveries/{theirs_delivery}/replay").status_code == 404
    assert alpha.post(f"/v1/deliveries/{own[0]['id']}/replay").status_code == 200
    assert alpha.post("/v1/deliveries/replay?downstream=global").status_code == 404
    assert alpha.post("/v1/deliveries/replay?downstream=hooks").status_code == 200
    assert beta.post(f"/v1/deliveries/{own[0]['id']}/replay").status_code == 404
    # Recovery since a time, on its own downstream only.
    assert alpha.post("/v1/downstreams/hooks/enable?recover_since=0").status_code == 200


def test_a_test_event_is_signed_marked_and_answered(make_relay: MakeRelay, sink: Sink):
    from standardwebhooks import Webhook

    from tests.harness import WEBHOOK_SECRET

    relay = make_relay([webhook(sink, "global")])
    alpha, beta = _app(relay, "alpha"), _app(relay, "beta")
    secret = _made(alpha, name="hooks", url=f"{sink.url}/alpha", events=["succeeded"])["secret"]

    sent = alpha.post("/v1/downstreams/hooks/test", json={"type": "task.succeeded"})
    assert sent.status_code == 200, sent.text
    answer = sent.json()
    assert answer["status"] == 200 and answer["seconds"] >= 0 and answer["error"] is None
    (hit,) = wait_for(lambda: sink.received("/alpha") or None)
    assert hit["headers"]["webhook-test"] == "true"
    assert hit["headers"]["webhook-id"] == answer["event_id"]
    event = Webhook(secret).verify(hit["body"], hit["headers"])
    assert event["type"] == "task.succeeded" and event["data"]["test"] is True
    assert secret not in sent.text

    # The admin tests a global one, signed with its secret; an app cannot reach it.
    assert (
        relay.api.post("/v1/downstreams/global/test", json={"type": "task.failed"}).status_code
        == 200
    )
    (global_hit,) = wait_for(lambda: sink.received("/global") or None)
    failed = Webhook(WEBHOOK_SECRET).verify(global_hit["body"], global_hit["headers"])
    assert failed["type"] == "task.failed" and failed["data"]["test"] is True
    for client, name in ((beta, "hooks"), (alpha, "global"), (alpha, "none-such")):
        refused = client.post(f"/v1/downstreams/{name}/test", json={"type": "task.succeeded"})
        assert refused.status_code == 404, (name, refused.text)
    for bad in ({"type": "task.exploded"}, {"type": 3}, {"type": "downstream.disabled"}):
        assert alpha.post("/v1/downstreams/hooks/test", json=bad).status_code == 422, bad
    assert len(sink.received("/alpha")) == 1


def test_the_console_shows_a_downstreams_app(make_relay: MakeRelay, sink: Sink):
    relay = make_relay([webhook(sink, "global")])
    alpha = _app(relay, "alpha")
    _made(alpha, name="hooks", url=f"{sink.url}/alpha")
    _made(alpha, name="inbox", format="pull")  # its URL too: the name its app reads it by
    console = relay.console()
    listed = console.get("/console/deliveries")
    assert listed.status_code == 200 and listed.text.count('<td data-label="App">alpha</td>') == 2
    assert '<td data-label="App">—</td>' in listed.text  # the global one has none
    # In words as people read it; its id only in the page's addresses, never in its text.
    assert 'class="name" href="/console/deliveries?downstream=app_' in listed.text
    assert ">alpha/hooks</a>" in listed.text
    assert not re.search(r">[^<]*app_[0-9a-f]{24}", listed.text)
    kept = re.findall(r'data-name="([^"]+)"', listed.text)
    cards = "".join(console.get("/console/deliveries", params={"downstream": n}).text for n in kept)
    assert cards.count("app: alpha</span>") == 2
    assert '<span class="name">alpha/hooks</span>' in cards
    assert not re.search(r">[^<]*app_[0-9a-f]{24}", cards)
    assert "/v1/downstreams/inbox/events</code>" in cards
    # Each card says where it sends, as the portal does (a pull one is read, sends nowhere).
    assert 'class="mono small target"' in cards and f">{sink.url}/alpha</p>" in cards
    assert cards.count('class="mono small target"') == 2


def test_every_route_answers_404_to_another_apps_ids(make_relay: MakeRelay, sink: Sink):
    """The matrix comes from the route table: a route added with a task, downstream or
    delivery in its path is in it the day it is added."""
    from tests.api_table import OPERATIONS

    relay = make_relay()
    make_app(relay, "alpha")
    alpha = as_key(relay, app_key(relay, "alpha", "alpha-all", [*SCOPES, "tasks:cancel"]))
    beta = _app(relay, "beta")
    _made(beta, name="theirs", url=f"{sink.url}/beta", events=["succeeded"])
    task_id = beta.post("/v1/tasks", json=image_to_video()).json()["id"]
    relay.wait_task(task_id, settled)
    delivery = wait_for(lambda: beta.get("/v1/deliveries").json()["deliveries"] or None)[0]
    ids = {"task_id": task_id, "name": "theirs", "delivery_id": delivery["id"]}
    bodies = {"PATCH": {"events": ["failed"]}, "POST": {"type": "task.succeeded"}}
    tried = 0
    for op in OPERATIONS:
        if op.auth != "admin" or op.scope == "admin" or "{" not in op.path:
            continue
        url = op.path.format(**{k: v for k, v in ids.items() if "{" + k + "}" in op.path})
        for method in op.methods:
            answer = alpha.request(
                method, url, json=bodies.get(method), headers={"X-Runway-Version": "2024-11-06"}
            )
            assert answer.status_code == 404, (method, url, answer.text)
            tried += 1
    assert tried >= 13  # tasks, runwayml, share, replay, and the seven of a downstream
    for query in (f"/v1/stream?task_id={task_id}", "/v1/deliveries/replay?downstream=theirs"):
        method = "GET" if query.startswith("/v1/stream") else "POST"
        assert alpha.request(method, query).status_code == 404, query
    assert alpha.get(f"/v1/deliveries?task_id={task_id}").json()["deliveries"] == []
    # An id in a body is no door either: a preview of another app's task is no such task.
    preview = {"format": "webhook", "task_id": task_id}
    assert alpha.post("/v1/downstreams/preview", json=preview).status_code == 404
    assert beta.post("/v1/downstreams/preview", json=preview).status_code == 200
    # Nothing of beta's was touched.
    assert beta.get(f"/v1/tasks/{task_id}").json()["state"] == "succeeded"
    assert beta.get("/v1/downstreams/theirs").json()["events"] == ["succeeded"]


def test_the_admin_names_an_apps_downstream_app_slash_name_in_every_path(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay()
    alpha = _app(relay, "alpha")
    _made(alpha, name="hooks", url=f"{sink.url}/alpha", events=["succeeded"])
    _made(alpha, name="inbox", format="pull", events=["succeeded"])
    for path in ("alpha%2Fhooks", "alpha/hooks"):
        found = relay.api.get(f"/v1/downstreams/{path}")
        assert found.status_code == 200, found.text
        assert found.json()["url"] == f"{sink.url}/alpha"
    off = relay.api.post("/v1/downstreams/alpha/hooks/disable")
    assert off.status_code == 200 and off.json()["downstream"] == "alpha/hooks", off.text
    assert relay.api.post("/v1/downstreams/alpha%2Fhooks/enable").status_code == 200
    changed = relay.api.patch("/v1/downstreams/alpha/hooks", json={"url": f"{sink.url}/moved"})
    assert changed.status_code == 200, changed.text
    assert relay.api.get("/v1/downstreams/alpha/inbox/events").status_code == 200
    # The app itself names it as it gave it, never through another app's name.
    assert alpha.get("/v1/downstreams/hooks").status_code == 200
    for unknown in ("alpha/nothing", "nobody/hooks", "alpha%2Fnothing"):
        missing = relay.api.get(f"/v1/downstreams/{unknown}")
        assert missing.status_code == 404, missing.text
        assert unknown.replace("%2F", "/") in missing.json()["detail"], missing.text
    assert relay.api.delete("/v1/downstreams/alpha/hooks").status_code == 200
    assert relay.api.get("/v1/downstreams/alpha/hooks").status_code == 404
    # The log lines name it so too, never by the id it is kept under.
    named = [line["downstream"] for line in relay.log_lines() if "downstream" in line]
    assert "alpha/hooks" in named and not [n for n in named if n.startswith("app_")], named
