"""The console's API keys page against a running relay: listed without the key, made with
scopes and limits (the key shown on the answer alone, once), revoked with the session's
CSRF token; and the page behind the console's login."""

from __future__ import annotations

import re

import httpx

from tests.conftest import MakeRelay
from tests.harness import Relay


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def _make(console: httpx.Client, **fields: str) -> httpx.Response:
    csrf = _csrf(console.get("/console/keys"))
    return console.post("/console/keys", data={"csrf": csrf, **fields})


def _live(relay: Relay) -> dict[str, dict[str, object]]:
    return {k["name"]: k for k in relay.api.get("/v1/keys").json()["keys"]}


def test_keys_are_made_listed_and_revoked_from_the_console(make_relay: MakeRelay):
    relay = make_relay()
    anonymous = httpx.Client(base_url=relay.url, timeout=15)
    assert anonymous.get("/console/keys").status_code == 303  # to the login form

    console = relay.console()
    empty = console.get("/console/keys")
    assert empty.status_code == 200 and "No API key yet" in empty.text
    assert 'href="/console/keys" aria-current="page"' in empty.text

    made = _make(
        console,
        name="shop",
        **{"scope.tasks:submit": "on", "scope.tasks:read": "on"},
        weight="2",
        max_queued="3",
        max_per_day="",
    )
    assert made.status_code == 200, made.text
    found = re.search(r'id="key-value">(rr_[^<]+)<', made.text)
    assert found is not None and "will not be shown again" in made.text
    key = found.group(1)
    row = _live(relay)["shop"]
    assert row["scopes"] == ["tasks:submit", "tasks:read"]
    assert (row["weight"], row["max_queued"], row["max_per_day"]) == (2, 3, None)
    app = httpx.Client(base_url=relay.url, headers={"Authorization": f"Bearer {key}"})
    assert app.get("/v1/tasks").status_code == 200

    listed = console.get("/console/keys")
    assert 'id="key-shop"' in listed.text and "tasks:submit" in listed.text
    assert key not in listed.text  # shown on the answer to the form alone

    refused = _make(console, name="shop", **{"scope.admin": "on"})
    assert refused.status_code == 422 and "exists" in refused.text
    assert 'value="shop"' in refused.text  # the form keeps what was typed
    no_scope = _make(console, name="bare")
    assert no_scope.status_code == 422 and "scopes" in no_scope.text
    bad_limit = _make(console, name="odd", max_queued="0", **{"scope.admin": "on"})
    assert bad_limit.status_code == 422 and "max_queued" in bad_limit.text
    assert set(_live(relay)) == {"shop"}

    # Revoking takes the session's CSRF token; without it nothing changes.
    target = "/console/keys/shop/revoke"
    assert console.post(target, data={"confirm": "yes"}).status_code == 403
    assert "shop" in _live(relay)
    csrf = _csrf(console.get("/console/keys"))
    asked = console.post(target, data={"csrf": csrf})
    assert asked.status_code == 200 and "Revoke the key shop?" in asked.text
    assert "shop" in _live(relay)  # asking changed nothing
    done = console.post(target, data={"csrf": csrf, "confirm": "yes", "back": "/console/keys"})
    assert done.status_code == 303 and "done=revoked" in done.headers["location"]
    assert _live(relay) == {}
    assert app.get("/v1/tasks").status_code == 401
    after = console.get(done.headers["location"])
    assert "Key revoked" in after.text and 'id="key-shop"' not in after.text
    gone = console.post(target, data={"csrf": csrf, "confirm": "yes"})
    assert gone.status_code == 404

    # A form from a browser never logged in asks it to log in; one whose session was
    # logged out is told that it ended.
    never = anonymous.post(target, data={"csrf": csrf, "confirm": "yes"})
    assert never.status_code == 403 and "log in first" in never.text
    assert "ended" not in never.text
    cookies = dict(console.cookies)
    assert console.post("/console/logout", data={"csrf": csrf}).status_code == 303
    ended = httpx.post(f"{relay.url}{target}", data={"csrf": csrf}, cookies=cookies)
    assert ended.status_code == 403 and "session has ended" in ended.text


def test_nul_in_a_console_form_is_refused_naming_the_field(make_relay: MakeRelay):
    relay = make_relay()
    console = relay.console()
    answer = _make(console, name="ci\x00bot", scopes="tasks:write")
    assert answer.status_code == 422, answer.text[:500]
    assert "name: must not contain NUL" in answer.text
    assert "ci\x00bot" not in _live(relay)
