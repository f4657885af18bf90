"""Microsoft Teams: an Adaptive Card through a Workflows webhook, checked against the
message shape Teams documents for incoming webhooks, Adaptive Card 1.4 elements, and the
28 KB message limit."""

from __future__ import annotations

import re
from typing import Any

import orjson

from tests.unit.test_render_common import POSTER, VIDEO, body, failed, huge, notice, succeeded, wide

ELEMENTS = {"TextBlock", "FactSet", "Image"}
# Markdown links Teams would render; ours are "[Video n](url)", "[Image n](url)", "[Audio n](url)".
LINK = re.compile(r"\]\(|\]\[|\]:")
OUR_LINK = re.compile(r"\[(Video|Image|Audio) \d+\]\(https://[^\s()]+\)")


def teams_spec(message: Any) -> list[str]:
    """A stand-in for the Workflows webhook and the Adaptive Card schema; the texts shown."""
    assert len(orjson.dumps(message)) <= 28_000
    assert message["type"] == "message"
    [attachment] = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert tuple(int(n) for n in card["version"].split(".")) >= (1, 4)
    texts: list[str] = []
    for element in card["body"]:
        kind = element["type"]
        assert kind in ELEMENTS, kind
        if kind == "TextBlock":
            assert isinstance(element["text"], str) and element["text"]
            assert element.get("wrap") is True
            texts.append(element["text"])
        elif kind == "FactSet":
            assert element["facts"]
            for fact in element["facts"]:
                assert set(fact) == {"title", "value"}
                assert isinstance(fact["title"], str) and isinstance(fact["value"], str)
                texts += [fact["title"], fact["value"]]
        else:
            assert element["url"].startswith("https://") and element.get("altText")
    for action in card.get("actions", []):
        assert action["type"] == "Action.OpenUrl"
        assert action["title"] and action["url"].startswith("https://")
    return texts


def _live_links(text: str) -> bool:
    return bool(LINK.search(OUR_LINK.sub("", text)))


def test_a_succeeded_render_shows_title_facts_poster_and_video() -> None:
    message = body("teams", succeeded())
    teams_spec(message)
    card = message["attachments"][0]["content"]
    title, facts, image = card["body"]
    assert title["text"] == "✅ Runway video2video task tsk_1 succeeded"
    assert [f["title"] for f in facts["facts"]] == [
        "Prompt",
        "Model",
        "Duration",
        "Cost",
        "Upstream task",
    ]
    assert image["url"] == POSTER
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "▶ Open video", "url": VIDEO}]


def test_hostile_text_can_not_pass_for_a_link() -> None:
    message = body("teams", failed())
    texts = teams_spec(message)
    assert not any(_live_links(text) for text in texts)
    joined = "\n".join(texts)
    assert "Reason: <!channel>" in joined  # Teams shows HTML and Slack syntax as typed
    assert "actions" not in message["attachments"][0]["content"]


def test_long_text_and_many_outputs_stay_under_28_kb_and_links_stay_whole() -> None:
    doc = huge()
    message = body("teams", doc)
    texts = teams_spec(message)
    links = [line for text in texts for line in text.split("\n\n") if line.startswith("[Video")]
    assert links and all(OUR_LINK.fullmatch(line) for line in links)
    assert all(line[line.index("(") + 1 : -1] in doc["outputs"] for line in links)
    assert not any(_live_links(text) for text in texts)
    message = body("teams", wide())  # over 28 KB before its texts are shortened
    teams_spec(message)
    card = message["attachments"][0]["content"]
    assert card["actions"][0]["url"] == VIDEO and card["body"][-1]["text"].startswith("Reason:")


def test_the_disabled_notice() -> None:
    message = body("teams", notice())
    teams_spec(message)
    card = message["attachments"][0]["content"]
    assert card["body"][0]["text"].startswith("⚠️ runway-relay stopped delivering to team-slack")
    assert "actions" not in card
