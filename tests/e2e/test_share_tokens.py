"""What a share link gives away and who can end it: its token is opaque (nothing of the key
that made it can be read in it), its page is framed by no other site unless configured,
and a link the admin token made ends when the admin token changes. And the admin token's
Idempotency-Keys live apart from every key's."""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import zlib

from tests.conftest import MakeRelay
from tests.e2e.test_keys import as_key, make_key
from tests.fault.support import store_sql
from tests.harness import image_to_video


def _link(client, task_id: str) -> str:
    made = client.post(f"/v1/tasks/{task_id}/share", params={"ttl_seconds": 3600})
    assert made.status_code == 201, made.text
    return str(made.json()["url"]).rsplit("/", 1)[1]


def _readable(token: str) -> bytes:
    """Whatever base64 in the token decodes to, every piece of it."""
    found = b""
    for piece in re.split(r"[.]", token):
        try:
            decoded = base64.urlsafe_b64decode(piece + "=" * (-len(piece) % 4))
        except (binascii.Error, ValueError):
            continue
        found += decoded
        with contextlib.suppress(zlib.error):
            found += zlib.decompress(decoded)  # a signed token compresses what it carries
    return found


def test_a_share_token_shows_nothing_of_its_key(make_relay: MakeRelay, storage_url: str):
    relay = make_relay()
    app = as_key(relay, make_key(relay, "render-app", "tasks:read", "tasks:submit"))
    task = app.post("/v1/tasks", json=image_to_video()).json()["id"]
    ((key_id,),) = store_sql(storage_url, "SELECT id FROM api_keys WHERE name = ?", "render-app")
    token = _link(app, task)
    assert key_id not in token and key_id.encode() not in _readable(token)
    assert task.encode() not in _readable(token)
    assert relay.anon.get(f"/share/{token}/task").json()["id"] == task
    assert _link(app, task) != token  # each link its own


def test_the_share_page_is_framed_by_no_one_unless_allowed(make_relay: MakeRelay):
    relay = make_relay()
    task = relay.submit(**image_to_video()).json()["id"]
    page = relay.anon.get(f"/share/{_link(relay.api, task)}")
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]

    relay.stop()  # one relay on a SQLite file at a time
    allowing = make_relay(server={"share_frame_ancestors": ["https://app.example.com"]})
    task = allowing.submit(**image_to_video()).json()["id"]
    page = allowing.anon.get(f"/share/{_link(allowing.api, task)}")
    assert "frame-ancestors https://app.example.com" in page.headers["content-security-policy"]


def test_a_new_admin_token_ends_the_links_the_old_one_made(make_relay: MakeRelay):
    relay = make_relay()
    app = as_key(relay, make_key(relay, "render-app", "tasks:read", "tasks:submit"))
    task = app.post("/v1/tasks", json=image_to_video()).json()["id"]
    admins, apps = _link(relay.api, task), _link(app, task)
    assert relay.anon.get(f"/share/{admins}/task").status_code == 200

    relay.stop()
    relay.env["RECEIVER_ADMIN_TOKEN"] = "a-new-admin-token-" + "x" * 24
    relay.start()
    gone = relay.anon.get(f"/share/{admins}/task")
    assert gone.status_code == 403 and "admin token" in gone.json()["detail"]
    assert relay.anon.get(f"/share/{apps}/task").status_code == 200  # its key still lives


def test_the_admin_tokens_idempotency_keys_never_meet_a_keys(
    make_relay: MakeRelay, storage_url: str
):
    relay = make_relay()
    app = as_key(relay, make_key(relay, "render-app", "tasks:read", "tasks:submit"))
    ((key_id,),) = store_sql(storage_url, "SELECT id FROM api_keys WHERE name = ?", "render-app")
    body = image_to_video()
    apps = app.post("/v1/tasks", json=body, headers={"Idempotency-Key": "order-1"})
    assert apps.status_code == 202, apps.text
    # The admin token's key spelled as the key's namespace sees a task of its own.
    admins = relay.api.post(
        "/v1/tasks", json=body, headers={"Idempotency-Key": f"{key_id}:order-1"}
    )
    assert admins.status_code == 202, admins.text
    assert admins.json()["id"] != apps.json()["id"]
    again = relay.api.post("/v1/tasks", json=body, headers={"Idempotency-Key": f"{key_id}:order-1"})
    assert again.json()["id"] == admins.json()["id"]
