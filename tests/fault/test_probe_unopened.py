"""RECEIVER_SECRET changed without `previous_secret_envs`: a downstream made through the API
whose secret no longer opens is shown with the reason (not 404) by the API and the console,
still gets its delivery rows, held with the reason (rows left pending from before are held
too), and they go out once its secret is rotated (and its URL given again) or the old key is
back."""

from __future__ import annotations

from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.conftest import MakeRelay
from tests.fault.support import store_sql
from tests.harness import SIGNING_SECRET, Relay, Sink, image_to_video, terminal, wait_for

pytestmark = pytest.mark.fault

HELD = "its secret cannot be opened: set previous_secret_envs or rotate the secret"
NEW_KEY = {"RECEIVER_SECRET": "changed-" + "7" * 32}


def _deliveries(relay: Relay, name: str) -> list[dict[str, Any]]:
    params = {"downstream": name, "limit": 100}
    rows: list[dict[str, Any]] = relay.api.get("/v1/deliveries", params=params).json()["deliveries"]
    return rows


def test_a_downstream_whose_secret_does_not_open_keeps_its_rows_until_it_can(
    make_relay: MakeRelay, sink: Sink, storage_url: str
) -> None:
    first = make_relay()
    for name in ("kept", "back"):
        made = first.api.post("/v1/downstreams", json={"name": name, "url": f"{sink.url}/{name}"})
        assert made.status_code == 201, made.text
    first.stop()

    second = make_relay(env=NEW_KEY)
    shown = second.api.get("/v1/downstreams/kept")
    assert shown.status_code == 200 and HELD in shown.json()["unusable"], shown.text
    listed = {d["name"]: d for d in second.api.get("/v1/downstreams").json()["downstreams"]}
    assert HELD in listed["back"]["unusable"]
    task = second.submit(**image_to_video()).json()["id"]
    assert second.wait_task(task, terminal)["state"] == "succeeded"
    for name in ("kept", "back"):
        [row] = wait_for(lambda name=name: _deliveries(second, name))
        assert (row["state"], row["attempts"], row["last_error"]) == ("held", 0, HELD), row
    for name in ("kept", "back"):
        page = second.console().get(f"/console/deliveries?downstream={name}").text
        card = page[page.index(f'id="downstream-{name}"') :][:3000]
        assert ">held<" in card and HELD in card and "<b>1</b> held" in card, card
    assert sink.received() == []
    # Disabled and enabled again, it still cannot be used: its row stays held.
    assert second.api.post("/v1/downstreams/kept/disable").status_code == 200
    assert second.api.post("/v1/downstreams/kept/enable").status_code == 200
    [row] = _deliveries(second, "kept")
    assert (row["state"], row["last_error"]) == ("held", HELD), row
    # A row an older release left pending for it is held at the next start too.
    store_sql(
        storage_url,
        "UPDATE deliveries SET state = 'pending', last_error = NULL WHERE downstream = 'back'",
    )
    second.stop()
    second = make_relay(env=NEW_KEY)
    # Held by the pass a start makes, in the background, over the rows of the other key.
    [row] = wait_for(lambda: [r for r in _deliveries(second, "back") if r["state"] == "held"])
    assert (row["state"], row["last_error"]) == ("held", HELD), row

    # The URL was sealed under the lost key too: given again, then a new secret.
    again = second.api.patch("/v1/downstreams/kept", json={"url": f"{sink.url}/kept"})
    assert again.status_code == 200, again.text
    secret = second.api.post("/v1/downstreams/kept/rotate-secret").json()["secret"]
    [hit] = wait_for(lambda: sink.accepted("/kept") or None)
    assert Webhook(secret).verify(hit["body"], hit["headers"])
    second.stop()

    third = make_relay(
        env={**NEW_KEY, "RECEIVER_SECRET_OLD": SIGNING_SECRET},
        callbacks={"previous_secret_envs": ["RECEIVER_SECRET_OLD"]},
    )
    wait_for(lambda: sink.accepted("/back") or None)
    assert third.api.get("/v1/downstreams/back").json().get("unusable") is None
