"""A router, not a pipe: each task can name its own webhook, carry the caller's metadata to
every downstream, and reach only the downstreams of its channels. URLs that come in through
the API are held to public addresses, and a receiver that answers 410 Gone is heard."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.conftest import MakeRelay, webhook
from tests.harness import (
    PRIVATE_URLS,
    SEEN_RUNNING,
    TASK_HOOK_SECRET,
    Simulator,
    Sink,
    image_to_video,
    terminal,
    wait_for,
)


def documents(sink: Sink, path: str) -> list[dict[str, Any]]:
    return [json.loads(hit["body"])["data"] for hit in sink.accepted(path)]


def verified(sink: Sink, path: str) -> list[dict[str, Any]]:
    """The events at `path`, each checked by the official Standard Webhooks library with the
    task webhook secret."""
    out = []
    for hit in sink.accepted(path):
        event: dict[str, Any] = Webhook(TASK_HOOK_SECRET).verify(hit["body"], hit["headers"])
        out.append(event["data"])
    return out


def test_each_task_reaches_its_own_webhook_its_channels_and_carries_its_metadata(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay([webhook(sink, "all"), webhook(sink, "orders", channels=["orders"])])
    a = relay.submitted(
        **image_to_video(),
        webhook=f"{sink.url}/task-a?token=kept-private",
        metadata={"order_id": "A-1", "lines": [1, 2], "note": None},
        channels=["orders"],
    )
    b = relay.submitted(
        **image_to_video(promptText=SEEN_RUNNING),
        webhook=f"{sink.url}/task-b",
        webhook_events=["running", "succeeded"],
        metadata={"order_id": "B-2"},
    )
    for task in (a, b):
        relay.wait_task(task["id"], terminal)
    wait_for(lambda: len(sink.accepted("/all")) == 2 or None)
    wait_for(lambda: len(sink.accepted("/task-b")) == 2 or None)
    [to_a] = wait_for(lambda: verified(sink, "/task-a") or None)
    assert to_a["task_id"] == a["id"] and to_a["state"] == "succeeded"
    assert to_a["metadata"] == {"order_id": "A-1", "lines": [1, 2], "note": None}
    to_b = verified(sink, "/task-b")
    assert [d["state"] for d in to_b] == ["running", "succeeded"]
    assert {d["task_id"] for d in to_b} == {b["id"]}
    assert {d["task_id"]: d["metadata"] for d in documents(sink, "/all")} == {
        a["id"]: {"order_id": "A-1", "lines": [1, 2], "note": None},
        b["id"]: {"order_id": "B-2"},
    }
    # The downstream on the `orders` channel got only the task that named it.
    wait_for(lambda: documents(sink, "/orders") or None)
    assert [d["task_id"] for d in documents(sink, "/orders")] == [a["id"]]
    shown = relay.task(a["id"])
    assert shown["metadata"]["order_id"] == "A-1" and shown["channels"] == ["orders"]
    assert shown["webhook"] == sink.url  # scheme and host: never the path's token
    lanes = {d["downstream"] for d in shown["deliveries"]}
    assert lanes == {"all", "orders", "task-webhook"}


def test_limits_on_what_a_task_may_ask(make_relay: MakeRelay, sink: Sink) -> None:
    relay = make_relay()

    def refused(**extra: Any) -> str:
        answer = relay.submit(**image_to_video(), **extra)
        assert answer.status_code == 422, answer.text
        detail: str = answer.json()["detail"]
        return detail

    assert "metadata" in refused(metadata={f"k{i}": i for i in range(51)})
    assert "bytes" in refused(metadata={"blob": "x" * 17_000})
    assert "metadata" in refused(metadata=["not", "an", "object"])
    assert "channels" in refused(channels=["has space"])
    assert "webhook" in refused(webhook="ftp://example.invalid/hook")
    assert "webhook_events" in refused(webhook=f"{sink.url}/x", webhook_events=[])


def test_webhooks_through_the_api_reach_public_addresses_only(make_relay: MakeRelay) -> None:
    relay = make_relay(delivery={"allow_private_networks": False})
    for url in PRIVATE_URLS:
        answer = relay.submit(**image_to_video(), webhook=url)
        assert answer.status_code == 422, url
        assert "address" in answer.json()["detail"]
    assert relay.api.get("/v1/tasks").json()["tasks"] == []  # nothing was stored


def test_a_public_ipv6_literal_is_a_task_webhook_and_a_private_one_is_not(
    make_relay: MakeRelay, sim: Simulator
) -> None:
    relay = make_relay(delivery={"allow_private_networks": False})
    for url in ("https://[::1]/hook", "https://[fd00::1]/hook", "http://[::ffff:10.0.0.1]/h"):
        answer = relay.submit(**image_to_video(), webhook=url)
        assert answer.status_code == 422, (url, answer.text)
        assert "address" in answer.json()["detail"], answer.text
    # Taken, and never called: CometAPI refuses the task, and the webhook asked for
    # `succeeded` only (no test sends traffic beyond loopback).
    sim.faults(submit_status=400)  # every send, a second one after a slow answer too
    public = "https://[2606:4700::1111]/hook"
    answer = relay.submit(**image_to_video(), webhook=public, webhook_events=["succeeded"])
    assert answer.status_code == 202, answer.text
    done = relay.wait_task(answer.json()["id"], terminal)
    assert done["state"] == "failed"
    assert relay.task(done["id"])["webhook"] == "https://[2606:4700::1111]"
    assert (
        relay.api.get("/v1/deliveries", params={"task_id": done["id"]}).json()["deliveries"] == []
    )


def local_name_from_hosts_file() -> str | None:
    """A name this machine's /etc/hosts maps to a loopback or private address, other than
    `localhost` (refused by name at submit): it resolves with no DNS leaving the machine."""
    try:
        lines = Path("/etc/hosts").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        address, *names = line.split("#", 1)[0].split() or [""]
        try:
            local = not ipaddress.ip_address(address).is_global
        except ValueError:
            continue
        for name in names if local else []:
            if name != "localhost" and not name.endswith(".localhost") and "." not in name:
                return name
    return None


def test_a_name_that_resolves_to_a_local_address_is_refused_when_connecting(
    make_relay: MakeRelay, sink: Sink
) -> None:
    name = local_name_from_hosts_file()
    if name is None:
        pytest.skip("/etc/hosts names no local address but localhost")
    relay = make_relay(delivery={"allow_private_networks": False})
    by_name = sink.url.replace("127.0.0.1", name)
    task = relay.submitted(**image_to_video(), webhook=f"{by_name}/mine")

    def refused() -> dict[str, Any] | None:
        shown = relay.task(task["id"])
        mine = [d for d in shown["deliveries"] if d["downstream"] == "task-webhook"]
        return mine[0] if mine and mine[0]["last_error"] else None

    attempt = wait_for(refused)  # the attempt was made, and stopped at resolution
    assert "resolves to a private or local address" in attempt["last_error"], attempt
    assert sink.received("/mine") == []


def test_a_410_ends_a_tasks_webhook_and_disables_a_downstream(
    make_relay: MakeRelay, make_sink: Callable[[], Sink]
) -> None:
    gone, ok = make_sink(), make_sink()
    gone.mode(status=410)
    relay = make_relay([webhook(gone, "retired"), webhook(ok, "live")])
    task = relay.submitted(
        **image_to_video(),
        webhook=f"{gone.url}/mine",
        webhook_events=["running", "succeeded"],
    )
    relay.wait_task(task["id"], terminal)

    def ended() -> dict[str, Any] | None:
        shown = relay.task(task["id"])
        mine = [d for d in shown["deliveries"] if d["downstream"] == "task-webhook"]
        done = [d for d in shown["deliveries"] if d["downstream"] == "live"]
        settled = done and done[0]["state"] == "succeeded"  # the success was recorded
        return shown if settled and mine and all(d["state"] == "dead" for d in mine) else None

    shown = wait_for(ended)
    # The running event heard the 410; the success made no delivery for that webhook.
    [mine] = [d for d in shown["deliveries"] if d["downstream"] == "task-webhook"]
    assert "410" in (mine["last_error"] or "")
    assert len(gone.received("/mine")) == 1
    health = {d["name"]: d for d in relay.api.get("/v1/downstreams").json()["downstreams"]}
    assert health["retired"]["disabled"] and "410" in health["retired"]["disabled_reason"]
    assert not health["live"]["disabled"]
    assert len(ok.accepted("/live")) == 1
