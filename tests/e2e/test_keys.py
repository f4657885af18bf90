"""API keys and their scopes against a running relay: made, shown once, listed without the
key, refused once revoked; and every route behind a token, tried with a key of each scope
(the matrix comes from the route table, so a new route is in it the day it is added)."""

from __future__ import annotations

import json
import re
import sqlite3

import httpx

from receiver.keys.rules import SCOPES
from tests.api_table import OPERATIONS
from tests.conftest import MakeRelay
from tests.harness import Relay, image_to_video, settled, wait_for


def make_key(relay: Relay, name: str, *scopes: str) -> str:
    made = relay.api.post("/v1/keys", json={"name": name, "scopes": list(scopes)})
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    assert isinstance(key, str) and key.startswith("rr_")
    return key


def as_key(relay: Relay, key: str) -> httpx.Client:
    return httpx.Client(base_url=relay.url, timeout=15, headers={"Authorization": f"Bearer {key}"})


def _status(client: httpx.Client, method: str, path: str) -> int:
    url = re.sub(r"\{[^}]+\}", "none-such", path)
    headers = {"X-Runway-Version": "2024-11-06"}
    if path == "/v1/stream":  # never ends: its head is the answer
        with client.stream(method, url, headers=headers) as response:
            return response.status_code
    return client.request(method, url, headers=headers).status_code


def test_every_route_refuses_a_key_without_its_scope(make_relay: MakeRelay):
    relay = make_relay()
    keys = {
        scope: as_key(relay, make_key(relay, scope.replace(":", "-"), scope)) for scope in SCOPES
    }
    tried = 0
    for op in OPERATIONS:
        if op.auth != "admin":
            continue
        for method in op.methods:
            assert _status(relay.anon, method, op.path) == 401, (method, op.path)
            for scope, client in keys.items():
                status = _status(client, method, op.path)
                allowed = scope in (op.scope, "admin")
                assert (status == 403) != allowed, (method, op.path, scope, status)
                assert status != 401, (method, op.path, scope)
                tried += 1
    assert tried == len(SCOPES) * sum(len(op.methods) for op in OPERATIONS if op.auth == "admin")


def test_a_key_is_shown_once_listed_without_it_and_refused_once_revoked(
    make_relay: MakeRelay, storage_url: str
):
    relay = make_relay()
    key = make_key(relay, "render-app", "tasks:read", "tasks:submit")
    app = as_key(relay, key)
    assert app.get("/v1/tasks").status_code == 200
    assert app.get("/v1/keys").status_code == 403

    listed = relay.api.get("/v1/keys")
    assert listed.status_code == 200 and key not in listed.text
    (row,) = listed.json()["keys"]
    assert row["name"] == "render-app" and row["scopes"] == ["tasks:submit", "tasks:read"]
    assert row["app"] == "render-app"  # a key made alone is its own app's
    assert row["last_used_at"] is not None and set(row) == {
        "name",
        "app",
        "scopes",
        "weight",
        "max_queued",
        "max_per_day",
        "created_at",
        "last_used_at",
    }

    again = relay.api.post("/v1/keys", json={"name": "render-app", "scopes": ["tasks:read"]})
    assert again.status_code == 409
    bad = relay.api.post("/v1/keys", json={"name": "x", "scopes": ["tasks:write"]})
    assert bad.status_code == 422 and "scopes" in bad.json()["detail"]
    assert relay.api.post("/v1/keys", json={"name": "a b", "scopes": ["admin"]}).status_code == 422

    assert relay.api.delete("/v1/keys/render-app").status_code == 200
    refused = app.get("/v1/tasks")
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert relay.api.get("/v1/keys").json()["keys"] == []
    assert relay.api.delete("/v1/keys/render-app").status_code == 404
    # The name is free again, for a new key.
    assert make_key(relay, "render-app", "tasks:read") != key

    assert key not in relay.log()
    if storage_url.startswith("sqlite:///"):
        path = storage_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT * FROM api_keys").fetchall()
        assert rows and key not in repr(rows)


def test_two_apps_see_only_their_own_tasks(make_relay: MakeRelay):
    relay = make_relay()
    scopes = ("tasks:submit", "tasks:read", "tasks:cancel")
    alpha, beta = (as_key(relay, make_key(relay, name, *scopes)) for name in ("alpha", "beta"))
    body = image_to_video()
    mine = alpha.post("/v1/tasks", json=body, headers={"Idempotency-Key": "one"})
    theirs = beta.post("/v1/tasks", json=body, headers={"Idempotency-Key": "one"})
    assert mine.status_code == theirs.status_code == 202, (mine.text, theirs.text)
    mine_id, theirs_id = mine.json()["id"], theirs.json()["id"]
    assert mine_id != theirs_id  # one app's Idempotency-Key never meets another's task

    assert [t["id"] for t in alpha.get("/v1/tasks").json()["tasks"]] == [mine_id]
    assert [t["id"] for t in beta.get("/v1/tasks").json()["tasks"]] == [theirs_id]
    listed = {t["id"] for t in relay.api.get("/v1/tasks").json()["tasks"]}
    assert listed == {mine_id, theirs_id}
    for path in (f"/v1/tasks/{theirs_id}", f"/runwayml/v1/tasks/{theirs_id}"):
        seen = alpha.get(path, headers={"X-Runway-Version": "2024-11-06"})
        assert seen.status_code == 404, (path, seen.text)
    assert alpha.delete(f"/v1/tasks/{theirs_id}").status_code == 404
    runway = alpha.delete(
        f"/runwayml/v1/tasks/{theirs_id}", headers={"X-Runway-Version": "2024-11-06"}
    )
    assert runway.status_code == 404
    assert alpha.get(f"/v1/stream?task_id={theirs_id}").status_code == 404
    assert alpha.get(f"/v1/tasks/{mine_id}").status_code == 200
    assert relay.api.get(f"/v1/tasks/{theirs_id}").status_code == 200

    # The live stream carries only the key's own tasks: once both have settled, a new task
    # of alpha's is the last change, and the stream up to it holds nothing of beta's.
    for task_id in (mine_id, theirs_id):
        wait_for(lambda t=task_id: settled(relay.api.get(f"/v1/tasks/{t}").json()))
    marker = alpha.post("/v1/tasks", json=body).json()["id"]
    seen: list[str] = []
    with alpha.stream("GET", "/v1/stream?since=0") as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:])["id"])
            if marker in seen:
                break
    assert set(seen) == {mine_id, marker}

    # Through Runway's front door too: a create is the key's, and only it reaches it.
    made = beta.post(
        "/runwayml/v1/image_to_video",
        json={k: v for k, v in body.items() if k != "kind"},
        headers={"X-Runway-Version": "2024-11-06"},
    )
    assert made.status_code == 200, made.text
    assert beta.get(f"/v1/tasks/{made.json()['id']}").status_code == 200
    assert alpha.get(f"/v1/tasks/{made.json()['id']}").status_code == 404
