"""Downstreams made at runtime through the API: a secret shown once and sealed at rest,
rotation with an overlap that both secrets verify (the official Standard Webhooks library),
changes every process follows, removal that ends what waited, and the config file's own
downstreams out of the API's reach."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from tests.conftest import MakeRelay, webhook
from tests.harness import (
    PRIVATE_URLS,
    SIGNING_SECRET,
    Relay,
    Sink,
    image_to_video,
    settled,
    wait_for,
)

# Every replica follows these downstreams through the store's change numbers.
pytestmark = pytest.mark.every_backend


def create(relay: Relay, **settings: Any) -> dict[str, Any]:
    answer = relay.api.post("/v1/downstreams", json=settings)
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made


def events_at(sink: Sink, path: str) -> list[dict[str, Any]]:
    return sink.accepted(path)


def run_task(relay: Relay, **extra: Any) -> dict[str, Any]:
    task = relay.submitted(**image_to_video(), **extra)
    return relay.wait_task(task["id"], settled)


def stored_bytes(storage_url: str, tmp_path: Path) -> bytes:
    """Everything the store holds on disk (SQLite: the file and its WAL), or, on PostgreSQL,
    the downstreams table as text."""
    if storage_url.startswith("sqlite"):
        return b"".join(p.read_bytes() for p in tmp_path.glob("relay.db*"))
    import psycopg

    with psycopg.connect(storage_url) as conn:
        rows = conn.execute("SELECT * FROM downstreams").fetchall()
    return repr(rows).encode()


def test_a_downstream_made_through_the_api_is_signed_sealed_and_kept(
    make_relay: MakeRelay, sink: Sink, storage_url: str, tmp_path: Path
) -> None:
    relay = make_relay([webhook(sink, "fixed")])
    made = create(relay, name="orders", url=f"{sink.url}/orders", events=["succeeded"])
    secret = made["secret"]
    assert secret.startswith("whsec_")
    assert made["source"] == "api" and made["url"] == f"{sink.url}/orders"

    shown = relay.api.get("/v1/downstreams/orders")
    assert shown.status_code == 200 and secret not in shown.text
    listed = relay.api.get("/v1/downstreams").json()["downstreams"]
    assert {d["name"]: d["source"] for d in listed} == {"fixed": "config", "orders": "api"}

    first = run_task(relay)
    [hit] = wait_for(lambda: events_at(sink, "/orders") or None)
    event = Webhook(secret).verify(hit["body"], hit["headers"])
    assert event["data"]["task_id"] == first["id"] and event["data"]["state"] == "succeeded"

    relay.stop()
    relay.start()
    assert relay.api.get("/v1/downstreams/orders").json()["source"] == "api"
    second = run_task(relay)
    hits = wait_for(lambda: len(events_at(sink, "/orders")) == 2 and events_at(sink, "/orders"))
    event = Webhook(secret).verify(hits[1]["body"], hits[1]["headers"])
    assert event["data"]["task_id"] == second["id"]

    # Sealed at rest, and in clear nowhere after the answer that made it.
    assert secret.encode() not in stored_bytes(storage_url, tmp_path)
    assert secret not in relay.log()
    assert secret not in relay.api.get("/v1/downstreams").text
    assert secret not in relay.api.get(f"/v1/tasks/{second['id']}").text


def test_a_rotation_signs_with_both_secrets_until_the_overlap_ends(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay()
    old = create(relay, name="rotating", url=f"{sink.url}/rotating")["secret"]
    rotated = relay.api.post("/v1/downstreams/rotating/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new != old and new.startswith("whsec_")
    shown = relay.api.get("/v1/downstreams/rotating").json()
    assert shown["previous_secret_until"] == rotated.json()["previous_secret_until"]

    run_task(relay)
    [hit] = wait_for(lambda: events_at(sink, "/rotating") or None)
    assert len(hit["headers"]["webhook-signature"].split(" ")) == 2
    # A receiver that knows only the old secret verifies, and one with the new does too.
    for secret in (old, new):
        assert Webhook(secret).verify(hit["body"], hit["headers"])["data"]["state"]
    assert old not in relay.log() and new not in relay.log()


def test_without_an_overlap_only_the_new_secret_signs(make_relay: MakeRelay, sink: Sink) -> None:
    relay = make_relay(delivery={"rotation_overlap_seconds": 0})
    old = create(relay, name="swapped", url=f"{sink.url}/swapped")["secret"]
    new = relay.api.post("/v1/downstreams/swapped/rotate-secret").json()["secret"]
    run_task(relay)
    [hit] = wait_for(lambda: events_at(sink, "/swapped") or None)
    assert Webhook(new).verify(hit["body"], hit["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(hit["body"], hit["headers"])


def test_a_change_is_followed_and_a_removal_ends_what_waited(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay()
    create(relay, name="moving", url=f"{sink.url}/before", channels=["shop"])
    changed = relay.api.patch("/v1/downstreams/moving", json={"url": f"{sink.url}/after"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["url"] == f"{sink.url}/after" and changed.json()["channels"] == ["shop"]
    run_task(relay, channels=["other"])  # not its channel: nothing for it
    shop = run_task(relay, channels=["shop"])
    [hit] = wait_for(lambda: events_at(sink, "/after") or None)
    assert json.loads(hit["body"])["data"]["task_id"] == shop["id"]
    assert events_at(sink, "/before") == []

    # Held while disabled, then removed: what waited ends as dead letters, with the reason.
    assert relay.api.post("/v1/downstreams/moving/disable").status_code == 200
    held = run_task(relay, channels=["shop"])
    wait_for(lambda: relay.task(held["id"])["deliveries"][0]["state"] == "held")
    removed = relay.api.delete("/v1/downstreams/moving")
    assert removed.status_code == 200 and removed.json()["deliveries_ended"] == 1
    [delivery] = relay.task(held["id"])["deliveries"]
    assert delivery["state"] == "dead" and "removed" in delivery["last_error"]
    assert relay.api.get("/v1/downstreams/moving").status_code == 404
    assert relay.api.delete("/v1/downstreams/moving").status_code == 404


def test_the_config_files_downstreams_and_bad_settings_are_refused(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay([webhook(sink, "fixed")])
    for answer in (
        relay.api.patch("/v1/downstreams/fixed", json={"timeout": 1}),
        relay.api.delete("/v1/downstreams/fixed"),
        relay.api.post("/v1/downstreams/fixed/rotate-secret"),
        relay.api.post("/v1/downstreams", json={"name": "fixed", "url": f"{sink.url}/x"}),
        relay.api.post("/v1/downstreams", json={"name": "task-webhook", "url": f"{sink.url}/x"}),
    ):
        assert answer.status_code == 409, answer.text
    assert "config file" in relay.api.delete("/v1/downstreams/fixed").json()["detail"]
    create(relay, name="taken", url=f"{sink.url}/taken")
    again = relay.api.post("/v1/downstreams", json={"name": "taken", "url": f"{sink.url}/t"})
    assert again.status_code == 409

    def refused(body: Any, field: str) -> None:
        answer = relay.api.post("/v1/downstreams", json=body)
        assert answer.status_code == 422, answer.text
        assert field in answer.json()["detail"]

    refused({"name": "x", "url": "ftp://example.invalid/"}, "url")
    refused({"name": "bad name", "url": f"{sink.url}/x"}, "name")
    # Said in words, never as the regular expression that checks it.
    named = relay.api.post("/v1/downstreams", json={"name": "eu..crm", "url": f"{sink.url}/x"})
    assert "name: a name holds letters, digits, `-` and `_`" in named.json()["detail"]
    assert "[A-Za-z" not in named.json()["detail"]
    refused({"name": "x", "url": f"{sink.url}/x", "timeout": 60}, "timeout")
    refused({"name": "x", "url": f"{sink.url}/x", "secret_env": "HOOK_SECRET"}, "secret_env")
    refused({"name": "x", "url": "amqp://127.0.0.1/", "format": "amqp"}, "routing_key")
    refused(["not", "an", "object"], "body")
    assert relay.api.patch("/v1/downstreams/taken", json={"events": ["nope"]}).status_code == 422


def test_urls_from_the_api_reach_public_addresses_only(make_relay: MakeRelay) -> None:
    relay = make_relay(delivery={"allow_private_networks": False})
    for url in (*PRIVATE_URLS, "http://[::1]/hook", "amqp://192.168.1.10/"):
        fmt = {"format": "amqp", "routing_key": "events"} if url.startswith("amqp") else {}
        answer = relay.api.post("/v1/downstreams", json={"name": "x", "url": url, **fmt})
        assert answer.status_code == 422, url
        assert "address" in answer.json()["detail"] or "local" in answer.json()["detail"]
    names = [d["name"] for d in relay.api.get("/v1/downstreams").json()["downstreams"]]
    assert names == []


def test_a_separate_delivery_worker_follows_a_downstream_made_on_serve(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay(delivery={"in_process": False, "tick_seconds": 0.1})
    relay.start_worker()
    wait_for(lambda: any(line.get("event") == "worker.started" for line in relay.log_lines()))
    secret = create(relay, name="later", url=f"{sink.url}/later")["secret"]
    run_task(relay)
    [hit] = wait_for(lambda: events_at(sink, "/later") or None)
    assert Webhook(secret).verify(hit["body"], hit["headers"])


def test_the_command_line_makes_rotates_and_removes_through_the_relay(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay()
    made = relay.cli("downstreams", "create", "cli-made", f"{sink.url}/cli", "--event", "succeeded")
    assert made.returncode == 0, made.stderr
    [secret] = [line.split(": ", 1)[1] for line in made.stdout.splitlines() if "secret" in line]
    assert secret.startswith("whsec_") and "not shown again" in made.stderr
    assert relay.api.get("/v1/downstreams/cli-made").json()["events"] == ["succeeded"]

    changed = relay.cli(
        *("downstreams", "change", "cli-made", "--channel", "shop"),
        *("--signing", "ed25519", "--max-per-second", "5"),
    )
    assert changed.returncode == 0, changed.stderr
    assert "takes effect at the rotation" in changed.stderr
    shown = relay.api.get("/v1/downstreams/cli-made").json()
    assert (shown["signing"], shown["max_per_second"]) == ("ed25519", 5)
    rotated = relay.cli("downstreams", "rotate", "cli-made")
    assert rotated.returncode == 0, rotated.stderr
    # An ed25519 key's private half is never shown: its public key is.
    assert "whsk_" not in rotated.stdout + rotated.stderr and "secret:" not in rotated.stdout
    public_key = relay.api.get("/v1/downstreams/cli-made").json()["public_key"]
    assert f"public key: {public_key}" in rotated.stdout and public_key.startswith("whpk_")
    listed = relay.cli("downstreams", "list", "--config", str(relay.config_path))
    assert listed.returncode == 0 and "cli-made" in listed.stdout, listed.stderr
    disabled = relay.cli("downstreams", "disable", "cli-made", "--config", str(relay.config_path))
    assert disabled.returncode == 0, disabled.stderr
    assert relay.api.get("/v1/downstreams/cli-made").json()["disabled"] is True

    removed = relay.cli("downstreams", "remove", "cli-made")
    assert removed.returncode == 0 and "removed" in removed.stdout
    again = relay.cli("downstreams", "remove", "cli-made")
    assert again.returncode == 1 and again.stderr.count("\n") == 1  # one line, no traceback
    assert "404" in again.stderr


def test_after_the_relays_secret_rotates_the_sealed_secrets_are_resealed(
    make_relay: MakeRelay, sink: Sink
) -> None:
    """RECEIVER_SECRET rotated the documented way (the old one kept in
    `callbacks.previous_secret_envs` for one start): the first start re-seals under the new
    key (in the background, once it serves), and from then on the old key is not needed."""
    first = make_relay()
    secret = create(first, name="kept", url=f"{sink.url}/kept")["secret"]
    first.stop()
    rotated_env = {"RECEIVER_SECRET": "rotated-" + "9" * 32, "RECEIVER_SECRET_OLD": SIGNING_SECRET}
    second = make_relay(
        env=rotated_env, callbacks={"previous_secret_envs": ["RECEIVER_SECRET_OLD"]}
    )
    wait_for(lambda: any(line.get("event") == "downstream.resealed" for line in second.log_lines()))
    second.stop()
    third = make_relay(env={"RECEIVER_SECRET": rotated_env["RECEIVER_SECRET"]})
    run_task(third)
    [hit] = wait_for(lambda: events_at(sink, "/kept") or None)
    assert Webhook(secret).verify(hit["body"], hit["headers"])
    assert not any(line.get("event") == "downstream.unusable" for line in third.log_lines())


def test_replicas_on_one_database_follow_each_others_changes(
    make_relay: MakeRelay, sink: Sink, storage_url: str
) -> None:
    if storage_url.startswith("sqlite"):
        pytest.skip("one process owns a SQLite store: replicas need PostgreSQL")
    a, b = make_relay(), make_relay()
    create(a, name="shared", url=f"{sink.url}/first")
    assert wait_for(lambda: b.api.get("/v1/downstreams/shared").status_code == 200)
    run_task(b)  # b's fan-out makes its lane, to the first URL
    wait_for(lambda: events_at(sink, "/first") or None)
    a.api.patch("/v1/downstreams/shared", json={"url": f"{sink.url}/second"})
    wait_for(lambda: b.api.get("/v1/downstreams/shared").json()["url"] == f"{sink.url}/second")
    run_task(b)  # its lane made anew from the change a made
    wait_for(lambda: events_at(sink, "/second") or None)
    assert b.api.delete("/v1/downstreams/shared").status_code == 200
    assert wait_for(lambda: a.api.get("/v1/downstreams/shared").status_code == 404)
