"""The operator alerts in every format: a webhook gets the event, each chat format words
that say which downstream, what happened and why (receiver/destinations/chat_message.py)."""

from __future__ import annotations

import json

import pytest

from receiver.destinations.registry import RENDERED, render
from receiver.outbox.rules.event_types import ALERT_TYPES, example_document
from tests.unit.test_render_common import body

HEADLINES = {
    "endpoint.failing": "🔴 runway-relay: crm is failing",
    "endpoint.recovered": "🟢 runway-relay: crm delivers again",
    "endpoint.disabled": "⛔ runway-relay disabled crm",
}


@pytest.mark.parametrize("kind", ALERT_TYPES)
def test_every_format_says_the_alert(kind: str) -> None:
    doc = example_document(kind)
    for fmt in RENDERED:
        text = json.dumps(body(fmt, doc), ensure_ascii=False)
        if fmt == "webhook":
            assert json.loads(text)["type"] == kind
            continue
        assert HEADLINES[kind] in text, fmt
        assert "crm" in text and "task" not in text.lower().replace("tsk_relay", ""), fmt


def test_an_apps_downstream_is_named_with_its_app() -> None:
    doc = example_document("endpoint.failing") | {"downstream": "hooks", "app": "acme"}
    message = body("slack", doc)
    assert message["blocks"][0]["text"]["text"].startswith("🔴 runway-relay: acme/hooks is failing")
    assert render("webhook", doc).body.startswith(b'{"type":"endpoint.failing"')


def _digest(count: int) -> dict[str, object]:
    doc = example_document("endpoint.failing")
    named = [
        {"downstream": f"hook-{i:02}", "reason": f"HTTP 50{i % 4}", "failing_since": 1.0}
        for i in range(min(count, 20))
    ]
    return doc | {
        "downstream": None,
        "app": "acme",
        "reason": f"{count} downstreams are failing",
        "downstreams": named,
        "more": count - len(named),
    }


def test_a_digest_says_how_many_of_which_app_and_names_them_in_every_format() -> None:
    doc = _digest(40)
    for fmt in RENDERED:
        text = json.dumps(body(fmt, doc), ensure_ascii=False)
        if fmt == "webhook":
            assert json.loads(text)["data"]["more"] == 20
            continue
        assert "🔴 runway-relay: 40 downstreams of acme are failing" in text, fmt
        assert "hook-00" in text and "and 20 more" in text, fmt
        assert "None" not in text, fmt


def test_a_digest_of_the_relays_own_downstreams_names_no_app() -> None:
    doc = _digest(3) | {"app": None}
    message = body("slack", doc)
    assert message["blocks"][0]["text"]["text"].startswith("🔴 runway-relay: 3 downstreams are")
    assert "more" not in json.dumps(message)
