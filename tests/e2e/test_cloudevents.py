"""A downstream's CloudEvents envelope, end to end: what the sink received read by the CNCF
SDK (`cloudevents.v1.http.from_http`) in both modes, signed over the body as sent; and the
webhook handshake: a sink that does not allow the relay holds its deliveries, with why,
until it is validated again; the rate it allows spaces a burst of them."""

from __future__ import annotations

import itertools
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from cloudevents.v1.http import from_http

from tests.conftest import MakeRelay, webhook
from tests.e2e.test_app_downstreams import _app, _made
from tests.harness import (
    WEBHOOK_SECRET,
    Relay,
    Sink,
    image_to_video,
    verify_standard_webhook,
    wait_for,
)
from tests.testkit import free_port


def _delivered(sink: Sink, path: str) -> dict[str, Any]:
    return wait_for(lambda: next((h for h in sink.received(path) if h["method"] == "POST"), None))


def _hook(relay: Relay, name: str) -> dict[str, Any]:
    found = relay.api.get("/v1/downstreams").json()["downstreams"]
    return next(d for d in found if d["name"] == name)


def test_both_modes_reach_a_webhook_as_cloudevents(make_relay: MakeRelay, sink: Sink) -> None:
    sink.mode(allowed_origin="*")
    relay = make_relay(
        [
            webhook(sink, "structured", envelope="cloudevents"),
            webhook(sink, "binary", envelope="cloudevents-binary"),
        ]
    )
    task = relay.submit(**image_to_video()).json()
    ids = set()
    for path in ("/structured", "/binary"):
        hit = _delivered(sink, path)
        body = hit["body"].encode()
        assert verify_standard_webhook(WEBHOOK_SECRET, hit["headers"], body)
        event = from_http(hit["headers"], body)
        assert event["specversion"] == "1.0"
        assert event["id"].startswith("evt_") and event["id"] != hit["headers"]["webhook-id"]
        ids.add(event["id"])
        assert event["type"] == "com.runway-relay.task.succeeded"
        assert event["subject"] == task["id"]
        # The operator's own downstream: the relay's public URL alone.
        assert event["source"].startswith("http") and "/apps/" not in event["source"]
        # The event's own data: the task's fields at its top.
        assert event.data["task_id"] == task["id"] and event.data["state"] == "succeeded"
        # The handshake came first, naming the relay's host.
        options = [h for h in sink.received(path) if h["method"] == "OPTIONS"]
        assert options and options[0]["headers"]["webhook-request-origin"]
    # The event's id, the same on both downstreams (consumers de-duplicate by source + id).
    assert len(ids) == 1
    structured = _delivered(sink, "/structured")["headers"]
    assert structured["content-type"] == "application/cloudevents+json"
    binary = _delivered(sink, "/binary")["headers"]
    assert binary["content-type"] == "application/json" and binary["ce-specversion"] == "1.0"


def test_an_endpoint_that_does_not_allow_the_relay_holds_its_deliveries(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay([webhook(sink, "hook", envelope="cloudevents")])
    relay.submit(**image_to_video())
    # The sink answers the OPTIONS without WebHook-Allowed-Origin: held, with why.
    held = wait_for(lambda: (d := _hook(relay, "hook"))["disabled"] and d)
    assert "WebHook-Allowed-Origin" in str(held), held
    assert not [h for h in sink.received("/hook") if h["method"] == "POST"]

    # Asked again from the command line while the sink still refuses: held, and why.
    refused = relay.cli("downstreams", "validate", "hook")
    assert refused.returncode == 1 and "hook: still held: " in refused.stderr, refused.stderr
    sink.mode(allowed_origin="*", allowed_rate="120")
    answer = relay.api.post("/v1/downstreams/hook/validate")
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["allowed"] is True and found["allowed_rate"] == 120 and found["queued"] >= 1
    event = from_http(*(lambda h: (h["headers"], h["body"].encode()))(_delivered(sink, "/hook")))
    assert event["type"] == "com.runway-relay.task.succeeded"
    assert not _hook(relay, "hook")["disabled"]
    again = relay.cli("downstreams", "validate", "hook")
    assert again.returncode == 0 and "hook: allowed, at most 120 a minute" in again.stdout


def test_only_a_cloudevents_webhook_is_validated(make_relay: MakeRelay, sink: Sink) -> None:
    relay = make_relay([webhook(sink, "hook")])
    answer = relay.api.post("/v1/downstreams/hook/validate")
    assert answer.status_code == 422 and "cloudevents envelope" in answer.text
    # The AsyncAPI document describes the envelope.
    document = relay.api.get("/asyncapi.json").text
    assert "ce-specversion" in document and "application/cloudevents+json" in document


def test_an_apps_endpoint_is_validated_again_from_its_portal_page(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay()
    alpha = _app(relay, "alpha")
    _made(alpha, name="ce", url=f"{sink.url}/ce", envelope="cloudevents")
    alpha.post("/v1/tasks", json=image_to_video())
    wait_for(lambda: alpha.get("/v1/downstreams/ce").json()["disabled"])
    console = relay.console().get("/console/deliveries", params={"downstream": "alpha/ce"})
    assert "/downstreams/" in console.text and ">Validate again</button>" in console.text

    link = alpha.post("/v1/portal-links", json={}).json()["url"]
    browser = httpx.Client(base_url=relay.url, timeout=30)
    browser.get(str(link).removeprefix(relay.url))
    page = browser.get("/portal/endpoints/ce")
    assert ">Validate again</button>" in page.text, page.text[:2000]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    sink.mode(allowed_origin="*")
    asked = browser.post("/portal/endpoints/ce/validate", data={"csrf": csrf[1]})
    assert asked.status_code in (200, 303), asked.text[:2000]
    event = from_http(*(lambda h: (h["headers"], h["body"].encode()))(_delivered(sink, "/ce")))
    # An app's endpoint: the source names the app.
    assert event["source"].endswith("/apps/alpha"), event["source"]
    assert not alpha.get("/v1/downstreams/ce").json()["disabled"]


PER_MINUTE, BURST = 60, 4  # one a second: four deliveries take three seconds at least


def test_an_endpoints_allowed_rate_paces_a_burst(make_relay: MakeRelay, sink: Sink) -> None:
    relay = make_relay([webhook(sink, "paced", envelope="cloudevents")])
    for _ in range(BURST):
        assert relay.submit(**image_to_video()).status_code == 202

    # Refused at first: every task's delivery is held, then released at once.
    def held() -> bool:
        found = relay.api.get("/v1/deliveries", params={"downstream": "paced"}).json()
        rows = found["deliveries"]
        return len(rows) == BURST and all(r["state"] == "held" for r in rows)

    wait_for(held)
    sink.mode(allowed_origin="*", allowed_rate=str(PER_MINUTE))
    answer = relay.api.post("/v1/downstreams/paced/validate")
    assert answer.status_code == 200 and answer.json()["queued"] == BURST, answer.text
    posts = wait_for(
        lambda: (
            len(p := [h for h in sink.received("/paced") if h["method"] == "POST"]) == BURST and p
        )
    )
    times = sorted(h["received_at"] for h in posts)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= 0.75 * 60 / PER_MINUTE, gaps


def test_the_type_prefix_and_source_are_settings(make_relay: MakeRelay, sink: Sink) -> None:
    sink.mode(allowed_origin="*")
    relay = make_relay(
        [webhook(sink, "hook", envelope="cloudevents")],
        delivery={
            "cloudevents_type_prefix": "com.example.renders.",
            "cloudevents_source": "urn:example:relay",
        },
    )
    relay.submit(**image_to_video())
    event = from_http(*(lambda h: (h["headers"], h["body"].encode()))(_delivered(sink, "/hook")))
    assert event["type"] == "com.example.renders.task.succeeded"
    assert event["source"] == "urn:example:relay"


def _docs_receiver() -> tuple[str, str]:
    """docs/delivery.md's CloudEvents receiver: its create command and its code."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "delivery.md").read_text()
    section = text.split("### A CloudEvents receiver", 1)[1].split("\n## ", 1)[0]
    [command] = re.findall(r"```sh\n(.*?)\n```", section, re.DOTALL)
    [code] = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    return command, code


def test_the_docs_receiver_gets_an_event_as_written(make_relay: MakeRelay, tmp_path: Path) -> None:
    relay = make_relay()
    command, code = _docs_receiver()
    port = free_port()
    words = shlex.split(command.replace("http://127.0.0.1:8000", f"http://127.0.0.1:{port}"))
    assert words[0] == "receiver"
    made = relay.cli(*words[1:])
    assert made.returncode == 0, made.stderr
    secret = re.search(r"whsec_[A-Za-z0-9+/=]+", made.stdout)
    assert secret is not None, made.stdout
    (tmp_path / "receiver.py").write_text(code)
    env = {**os.environ, "HOOK_SECRET": secret[0], "PORT": str(port), "PYTHONUNBUFFERED": "1"}
    out = (tmp_path / "receiver.out").open("wb")
    server = subprocess.Popen(
        [sys.executable, "receiver.py"], cwd=tmp_path, env=env, stdout=out, stderr=out
    )
    try:
        task = relay.submitted(**image_to_video())
        said = wait_for(
            lambda: (
                "com.runway-relay.task.succeeded evt_"
                in (t := (tmp_path / "receiver.out").read_text())
                and t
            )
        )
        assert task["id"] in said and "Traceback" not in said, said
    finally:
        server.terminate()
        server.wait(30)
