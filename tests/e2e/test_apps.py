"""Apps against a running relay, on both backends: an app owns what its keys make, so a key
rotated (a new one made, the old revoked) keeps the app's tasks in flight, its limits and its
weight; deleting an app revokes its keys and ends their streams; `POST /v1/keys` still makes
a key alone (the only key of an app of its name); and the keys of a store from before apps
become apps of the same name owning what they made."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import httpx

from receiver.kernel.store import open_store
from receiver.kernel.store.db import Db
from receiver.kernel.store.migrate import migrate, migrations
from receiver.keys.rules import KeyHasher, new_key
from receiver.lifecycle.rows.tasks.intake import create_task
from receiver.lifecycle.rules.records import NewTask
from tests.conftest import MakeRelay
from tests.e2e.test_keys import as_key, make_key
from tests.harness import SIGNING_SECRET, Relay, Sink, image_to_video, wait_for

SCOPES = ["tasks:submit", "tasks:read", "tasks:cancel"]


def make_app(relay: Relay, name: str, **settings: object) -> dict[str, object]:
    made = relay.api.post("/v1/apps", json={"name": name, **settings})
    assert made.status_code == 201, made.text
    return dict(made.json())


def app_key(relay: Relay, app: str, name: str, scopes: list[str] = SCOPES) -> str:
    made = relay.api.post(f"/v1/apps/{app}/keys", json={"name": name, "scopes": scopes})
    assert made.status_code == 201, made.text
    return str(made.json()["key"])


def test_an_app_is_made_listed_changed_and_refuses_bad_input(make_relay: MakeRelay):
    relay = make_relay()
    made = make_app(relay, "render", weight=3, max_queued=5)
    assert made["keys"] == 0 and made["weight"] == 3 and made["max_per_day"] is None
    assert relay.api.post("/v1/apps", json={"name": "render"}).status_code == 409
    for bad in ({"name": "no spaces"}, {"name": "x", "weight": 0}, {"name": "x", "weight": "3"}):
        answer = relay.api.post("/v1/apps", json=bad)
        assert answer.status_code == 422 and "detail" in answer.json(), (bad, answer.text)
    assert relay.api.post("/v1/apps", content=b"[").status_code == 400

    changed = relay.api.patch("/v1/apps/render", json={"max_queued": None, "max_per_day": 9})
    assert changed.status_code == 200, changed.text
    shown = relay.api.get("/v1/apps/render").json()
    assert (shown["weight"], shown["max_queued"], shown["max_per_day"]) == (3, None, 9)
    assert relay.api.patch("/v1/apps/render", json={"weight": 0}).status_code == 422
    assert relay.api.get("/v1/apps/none-such").status_code == 404
    assert relay.api.patch("/v1/apps/none-such", json={}).status_code == 404
    assert [a["name"] for a in relay.api.get("/v1/apps").json()["apps"]] == ["render"]

    key = app_key(relay, "render", "render-prod")
    assert as_key(relay, key).get("/v1/apps").status_code == 403
    assert relay.api.get("/v1/apps/render").json()["keys"] == 1
    (listed,) = relay.api.get("/v1/apps/render/keys").json()["keys"]
    assert listed["name"] == "render-prod" and key not in relay.api.get("/v1/apps/render/keys").text
    assert (
        relay.api.post("/v1/apps/none-such/keys", json={"name": "k", "scopes": SCOPES}).status_code
        == 404
    )


def test_a_key_rotated_keeps_the_apps_tasks_and_limits(make_relay: MakeRelay):
    relay = make_relay()
    make_app(relay, "render", max_per_day=2, weight=2)
    old = as_key(relay, app_key(relay, "render", "render-2025"))
    first = old.post("/v1/tasks", json=image_to_video())
    assert first.status_code == 202, first.text
    task_id = first.json()["id"]

    # Rotation: a new key first, then the old one revoked.
    new = as_key(relay, app_key(relay, "render", "render-2026"))
    revoked = relay.api.delete("/v1/apps/render/keys/render-2025")
    assert revoked.status_code == 200, revoked.text
    wait_for(lambda: old.get("/v1/tasks").status_code == 401)

    assert new.get(f"/v1/tasks/{task_id}").status_code == 200
    assert [t["id"] for t in new.get("/v1/tasks").json()["tasks"]] == [task_id]
    # The day's limit counts what the old key made: one more fits, then 429.
    assert new.post("/v1/tasks", json=image_to_video()).status_code == 202
    refused = new.post("/v1/tasks", json=image_to_video())
    assert refused.status_code == 429 and refused.json()["limit"] == "max_per_day"
    shown = relay.api.get("/v1/apps/render").json()
    assert (shown["weight"], shown["keys"]) == (2, 1)
    # The app's last key revoked: the app stays, ready for a new key, which sees it all.
    assert relay.api.delete("/v1/apps/render/keys/render-2026").status_code == 200
    assert relay.api.delete("/v1/apps/render/keys/render-2026").status_code == 404
    third = as_key(relay, app_key(relay, "render", "render-2027"))
    assert len(third.get("/v1/tasks").json()["tasks"]) == 2


def test_another_apps_tasks_are_no_such_tasks(make_relay: MakeRelay):
    relay = make_relay()
    for name in ("alpha", "beta"):
        make_app(relay, name)
    alpha = as_key(relay, app_key(relay, "alpha", "alpha-1"))
    beta = as_key(relay, app_key(relay, "beta", "beta-1"))
    theirs = beta.post("/v1/tasks", json=image_to_video()).json()["id"]
    mine = alpha.post("/v1/tasks", json=image_to_video()).json()["id"]
    assert alpha.get(f"/v1/tasks/{theirs}").status_code == 404
    assert alpha.delete(f"/v1/tasks/{theirs}").status_code == 404
    assert [t["id"] for t in alpha.get("/v1/tasks").json()["tasks"]] == [mine]
    # A key's name is not its app: revoking beta's key through alpha's app is no such key.
    assert relay.api.delete("/v1/apps/alpha/keys/beta-1").status_code == 404
    assert beta.get(f"/v1/tasks/{theirs}").status_code == 200

    # Whose a task is, by its app's name (null: the operator's own), and the admin's filter.
    own = relay.api.post("/v1/tasks", json=image_to_video()).json()["id"]
    assert relay.api.get(f"/v1/tasks/{theirs}").json()["app"] == "beta"
    assert alpha.get(f"/v1/tasks/{mine}").json()["app"] == "alpha"
    listed = {t["id"]: t["app"] for t in relay.api.get("/v1/tasks").json()["tasks"]}
    assert listed == {mine: "alpha", theirs: "beta", own: None}
    assert [t["id"] for t in relay.api.get("/v1/tasks?app=beta").json()["tasks"]] == [theirs]
    assert [t["id"] for t in alpha.get("/v1/tasks?app=alpha").json()["tasks"]] == [mine]
    refused = alpha.get("/v1/tasks?app=beta")
    assert refused.status_code == 403 and "admin scope" in refused.json()["detail"]
    unknown = relay.api.get("/v1/tasks?app=none-such")
    assert unknown.status_code == 404 and "none-such" in unknown.json()["detail"]

    # Its portal opens a page for its own task alone: another app's, or the operator's, is
    # no such task there either (an HTML page, not the task).
    link = relay.api.post("/v1/portal-links", json={"app": "alpha"}).json()["url"]
    portal = httpx.Client(base_url=relay.url, timeout=15)
    assert portal.get(link.removeprefix(relay.url)).status_code == 303  # to its endpoints
    page = portal.get(f"/portal/tasks/{mine}")
    assert page.status_code == 200 and 'id="task-title"' in page.text and mine in page.text
    for other in (theirs, own, "tsk_none"):
        refused = portal.get(f"/portal/tasks/{other}")
        assert refused.status_code == 404 and 'data-code="404"' in refused.text
        assert other not in refused.text
    portal.close()


def _ends(client: httpx.Client) -> threading.Event:
    """Set once the stream opened with `client` ends."""
    ended, opened = threading.Event(), threading.Event()

    def follow() -> None:
        try:
            with client.stream("GET", "/v1/stream", timeout=None) as stream:
                opened.set()
                for _ in stream.iter_lines():
                    pass
        except httpx.HTTPError:
            pass  # cut when the relay stops at the test's end
        finally:
            ended.set()

    threading.Thread(target=follow, daemon=True).start()
    assert opened.wait(30)
    return ended


def test_deleting_an_app_revokes_its_keys_and_ends_their_streams(make_relay: MakeRelay):
    relay = make_relay()
    make_app(relay, "gone")
    make_app(relay, "kept")
    gone = as_key(relay, app_key(relay, "gone", "gone-1", ["tasks:read"]))
    kept = as_key(relay, app_key(relay, "kept", "kept-1", ["tasks:read"]))
    gone_ended, kept_ended = _ends(gone), _ends(kept)
    assert relay.api.delete("/v1/apps/gone").status_code == 200
    wait_for(gone_ended.is_set)
    assert gone.get("/v1/tasks").status_code == 401
    assert not kept_ended.is_set() and kept.get("/v1/tasks").status_code == 200
    assert relay.api.get("/v1/apps/gone").status_code == 404
    assert relay.api.delete("/v1/apps/gone").status_code == 404
    # Its name can be given again, to a new app that sees none of the old one's.
    make_app(relay, "gone")
    assert relay.api.get("/v1/apps/gone").json()["keys"] == 0


def test_a_key_made_alone_is_the_only_key_of_an_app_of_its_name(make_relay: MakeRelay):
    relay = make_relay()
    key = as_key(relay, make_key(relay, "legacy", "tasks:submit", "tasks:read"))
    task_id = key.post("/v1/tasks", json=image_to_video()).json()["id"]
    shown = relay.api.get("/v1/apps/legacy").json()
    assert shown["keys"] == 1 and shown["weight"] == 1
    assert (
        relay.api.post("/v1/keys", json={"name": "legacy", "scopes": ["tasks:read"]}).status_code
        == 409
    )
    make_app(relay, "taken")
    assert (
        relay.api.post("/v1/keys", json={"name": "taken", "scopes": ["tasks:read"]}).status_code
        == 409
    )

    assert relay.api.delete("/v1/keys/legacy").status_code == 200
    assert relay.api.get("/v1/apps/legacy").status_code == 404  # went with its only key
    again = as_key(relay, make_key(relay, "legacy", "tasks:read"))
    assert again.get(f"/v1/tasks/{task_id}").status_code == 404  # as a new key before apps


def _store_before_apps(url: str, key: str) -> str:
    """A store at migration 24 (before apps) holding a key named `render` and a task it
    made, written as that release wrote them; the task's id."""
    before = [m for m in migrations() if m.version <= 24]

    def write(db: Db) -> str:
        migrate(db, before)
        digest = KeyHasher([SIGNING_SECRET]).digest(key)
        db.script(
            "INSERT INTO api_keys (id, name, digest, scopes, created_at, weight, max_queued,"
            f" max_per_day) VALUES ('key_old', 'render', '{digest}',"
            ' \'["tasks:submit", "tasks:read"]\', 1.0, 3, NULL, 1)'
        )
        request = {k: v for k, v in image_to_video().items() if k != "kind"}
        new = NewTask("image_to_video", request, owner_key="key_old")
        task, _ = create_task(db, new, time.time())
        return task.id

    async def run() -> str:
        store = open_store(url)
        try:
            return await store.run(write, timeout=None)
        finally:
            await store.close()

    return asyncio.run(run())


def test_keys_of_a_store_before_apps_become_apps_owning_what_they_made(
    make_relay: MakeRelay, storage_url: str
):
    key = new_key()
    task_id = _store_before_apps(storage_url, key)
    relay = make_relay()
    shown = relay.api.get("/v1/apps/render").json()
    assert (shown["weight"], shown["max_per_day"], shown["keys"]) == (3, 1, 1), shown
    old = as_key(relay, key)
    assert old.get(f"/v1/tasks/{task_id}").status_code == 200
    # The day's limit, now the app's, counts the task the key made before the upgrade.
    assert old.post("/v1/tasks", json=image_to_video()).status_code == 429
    # Rotated: a new key of the app sees the old key's task.
    new = as_key(relay, app_key(relay, "render", "render-new"))
    assert relay.api.delete("/v1/apps/render/keys/render").status_code == 200
    assert new.get(f"/v1/tasks/{task_id}").status_code == 200
    listed = relay.api.get("/v1/keys").json()["keys"]
    assert [(k["name"], k["app"]) for k in listed] == [("render-new", "render")]


def test_the_console_shows_a_tasks_app_and_filters_by_it(make_relay: MakeRelay):
    relay = make_relay()
    for name in ("alpha", "beta"):
        make_app(relay, name)
    alpha = as_key(relay, app_key(relay, "alpha", "alpha-1"))
    beta = as_key(relay, app_key(relay, "beta", "beta-1"))
    mine = alpha.post("/v1/tasks", json=image_to_video()).json()["id"]
    theirs = beta.post("/v1/tasks", json=image_to_video()).json()["id"]
    console = relay.console()
    listed = console.get("/console/tasks?app=alpha")
    assert listed.status_code == 200 and mine in listed.text and theirs not in listed.text
    assert '<option value="beta">' in listed.text
    assert console.get("/console/tasks?app=none-such").status_code == 400
    page = console.get(f"/console/tasks/{mine}")
    named = '<span class="name" title="alpha">alpha</span>'  # a name, never broken inside
    assert page.status_code == 200 and f'<dd id="task-app">{named}</dd>' in page.text
    # The list names each task's app; the keys page whose each key is.
    every = console.get("/console/tasks").text
    assert f'id="task-app-{mine}">{named}<' in every and f'id="task-app-{theirs}"><span' in every
    assert 'id="key-app-alpha-1"><a class="name" href="/console/apps#app-alpha"' in (
        console.get("/console/keys").text
    )


def test_the_console_apps_page_makes_and_rotates_keys_and_opens_a_portal(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay()
    make_app(relay, "alpha", max_queued=7)
    alpha = as_key(relay, app_key(relay, "alpha", "alpha-1"))
    task_id = alpha.post("/v1/tasks", json=image_to_video()).json()["id"]
    hooks = relay.api.post(
        "/v1/downstreams",
        json={"name": "hooks", "url": f"{sink.url}/a", "owner": "alpha"},
    )
    assert hooks.status_code == 201, hooks.text
    console = relay.console()
    page = console.get("/console/apps")
    assert page.status_code == 200, page.text[:2000]
    card = page.text.split('id="app-alpha"', 1)[1]
    assert 'data-key="alpha-1"' in card and ">hooks</a>" in card and task_id in card
    assert "<dd>7</dd>" in card  # its limits
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    form = {"csrf": csrf[1]}

    made = console.post("/console/apps", data={**form, "name": "beta", "weight": "2"})
    assert made.status_code == 200 and 'id="app-beta"' in made.text
    assert relay.api.get("/v1/apps/beta").json()["weight"] == 2
    refused = console.post("/console/apps", data={**form, "name": "beta"})
    assert refused.status_code == 422 and "an app named &#39;beta&#39; exists" in refused.text

    key = console.post(
        "/console/apps/beta/keys",
        data={**form, "name": "beta-1", "scope.tasks:read": "on"},
    )
    first = re.search(r'id="key-value">(rr_[^<]+)<', key.text)
    assert key.status_code == 200 and first is not None
    assert as_key(relay, first[1]).get("/v1/tasks").status_code == 200
    assert first[1] not in console.get("/console/apps").text  # shown that once

    # Rotated: a new key with the same scopes, shown once; the old one refused.
    rotated = console.post("/console/apps/beta/keys/beta-1/rotate", data={**form, "confirm": "yes"})
    second = re.search(r'id="key-value">(rr_[^<]+)<', rotated.text)
    assert rotated.status_code == 200 and second is not None and "beta-2" in rotated.text
    (listed,) = relay.api.get("/v1/apps/beta/keys").json()["keys"]
    assert (listed["name"], listed["scopes"]) == ("beta-2", ["tasks:read"])
    wait_for(lambda: as_key(relay, first[1]).get("/v1/tasks").status_code == 401)
    assert as_key(relay, second[1]).get("/v1/tasks").status_code == 200

    link = console.post("/console/apps/beta/portal-link", data=form)
    url = re.search(r'id="portal-link-value">([^<]+)<', link.text)
    assert link.status_code == 200 and url is not None
    opened = httpx.get(url[1].replace("&amp;", "&"), follow_redirects=True)
    assert opened.status_code == 200 and "Endpoints" in opened.text
    revoked = console.post("/console/apps/beta/keys/beta-2/revoke", data={**form, "confirm": "yes"})
    assert revoked.status_code in (200, 303)
    no_key = console.post("/console/apps/beta/portal-link", data=form)
    assert no_key.status_code == 409 and "has no live key" in no_key.text


def test_the_apps_page_shows_each_downstreams_health_and_listens_live(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay(delivery={"retry_schedule": [0.1]})
    make_app(relay, "alpha")
    alpha = as_key(relay, app_key(relay, "alpha", "alpha-1"))
    made = relay.api.post(
        "/v1/downstreams", json={"name": "hooks", "url": f"{sink.url}/a", "owner": "alpha"}
    )
    assert made.status_code == 201, made.text
    console = relay.console()
    fresh = console.get("/console/apps").text.split('id="app-alpha"', 1)[1]
    assert 'data-name="hooks"' in fresh and "health-no-traffic-yet" in fresh
    sink.mode(status=500)
    task_id = alpha.post("/v1/tasks", json=image_to_video()).json()["id"]

    def dead() -> bool:
        task = relay.task(task_id)
        return any(d["state"] == "dead" for d in task.get("deliveries", []))

    wait_for(dead)
    page = console.get("/console/apps").text
    card = page.split('id="app-alpha"', 1)[1]
    assert 'class="badge downstream-health health-failing"' in card
    # Its body names the live stream: the "live" badge shows, the card refreshes itself.
    assert 'data-stream="/console/stream?since=' in page
    assert 'id="downstreams-alpha" data-live' in card
