"""Share links: one task, read only, for an app's own users, as JSON, a live stream and a
page; nothing else opens with them, and revoking the key that made one ends it."""

from __future__ import annotations

import json

from tests.conftest import MakeRelay
from tests.e2e.test_keys import as_key, make_key
from tests.harness import image_to_video, settled


def test_a_share_link_opens_its_one_task_and_nothing_else(make_relay: MakeRelay):
    relay = make_relay()
    key = make_key(relay, "render-app", "tasks:submit", "tasks:read")
    app = as_key(relay, key)
    mine = app.post("/v1/tasks", json=image_to_video()).json()["id"]
    other = relay.submit(**image_to_video()).json()["id"]

    shared = app.post(f"/v1/tasks/{mine}/share", params={"ttl_seconds": 3600})
    assert shared.status_code == 201, shared.text
    url = shared.json()["url"]
    assert url.startswith(f"{relay.url}/share/")
    assert app.post(f"/v1/tasks/{other}/share").status_code == 404  # not its own
    assert app.post(f"/v1/tasks/{mine}/share", params={"ttl_seconds": 1}).status_code == 400

    token = url.rsplit("/", 1)[1]
    view = relay.anon.get(f"/share/{token}/task")
    assert view.status_code == 200 and view.headers["access-control-allow-origin"] == "*"
    assert view.json()["id"] == mine and "request" not in view.json()
    page = relay.anon.get(f"/share/{token}")
    assert page.status_code == 200 and "progressbar" in page.text

    # The live stream follows it to its end.
    states = []
    with relay.anon.stream("GET", f"/share/{token}/stream") as stream:
        assert stream.headers["access-control-allow-origin"] == "*"
        for line in stream.iter_lines():
            if line.startswith("data: "):
                states.append(json.loads(line[6:])["state"])
    assert states[-1] == "succeeded" and settled(relay.api.get(f"/v1/tasks/{mine}").json())

    # Nothing else opens: the token as an API key, a tampered one, another task's path.
    as_api_key = relay.anon.get("/v1/tasks", headers={"Authorization": f"Bearer {token}"})
    assert as_api_key.status_code == 401
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert relay.anon.get(f"/share/{tampered}/task").status_code == 403
    forged_page = relay.anon.get(f"/share/{tampered}")  # a person reads it: a page, not JSON
    assert forged_page.status_code == 404 and "This link does not work" in forged_page.text
    assert relay.anon.get(f"/share/{token}/task/{other}").status_code == 404
    assert relay.anon.get(f"/v1/tasks/{mine}", params={"share": token}).status_code == 401

    # Revoking the key that made it ends its links.
    assert relay.api.delete("/v1/keys/render-app").status_code == 200
    gone = relay.anon.get(f"/share/{token}/task")
    assert gone.status_code == 403 and "revoked" in gone.json()["detail"]
    withdrawn = relay.anon.get(f"/share/{token}")
    assert withdrawn.status_code == 410 and withdrawn.headers["content-type"].startswith(
        "text/html"
    )
    assert "This link was withdrawn" in withdrawn.text
