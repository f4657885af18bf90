"""Google Chat: a cardsV2 message through an incoming webhook, checked against the card
shapes Google documents (developers.google.com/workspace/chat/api/reference/rest/v1/cards),
its HTML subset for card text, and the 32 KB card limit."""

from __future__ import annotations

import html
import re
from typing import Any

import orjson

from tests.unit.test_render_common import (
    POSTER,
    VIDEO,
    body,
    failed,
    huge,
    notice,
    succeeded,
    wide,
)

TAG = re.compile(r"<(/?)([a-zA-Z]+)([^>]*)>")
ALLOWED_TAGS = {"a", "b", "br"}  # of the subset Chat renders, the ones we write
OUR_ANCHOR = re.compile(r' href="https://[^"<>]+"')


def _html(text: str) -> str:
    """Card text: only our tags, and an anchor only as we write it."""
    assert isinstance(text, str) and text
    for closing, tag, attributes in TAG.findall(text):
        assert tag in ALLOWED_TAGS, tag
        assert tag != "a" or closing or OUR_ANCHOR.fullmatch(attributes), attributes
    return text


def google_chat_spec(message: Any) -> list[str]:
    """A stand-in for Chat's checks of a webhook message with cards; the texts shown."""
    assert len(orjson.dumps(message)) <= 32_000
    assert set(message) <= {"text", "cardsV2"}
    [entry] = message["cardsV2"]
    assert isinstance(entry["cardId"], str) and entry["cardId"]
    card = entry["card"]
    header = card["header"]
    assert isinstance(header["title"], str) and header["title"] and "<" not in header["title"]
    texts = [header["title"]]
    assert card["sections"]
    for section in card["sections"]:
        assert section["widgets"]
        for widget in section["widgets"]:
            [(kind, value)] = widget.items()  # one widget per item
            if kind == "decoratedText":
                assert isinstance(value["topLabel"], str)
                texts.append(_html(value["text"]))
            elif kind == "textParagraph":
                texts.append(_html(value["text"]))
            elif kind == "image":
                assert value["imageUrl"].startswith("https://") and value["altText"]
            elif kind == "buttonList":
                for button in value["buttons"]:
                    assert button["text"]
                    assert button["onClick"]["openLink"]["url"].startswith("https://")
            else:
                raise AssertionError(f"widget {kind} is not one we mean to send")
    return texts


def _widgets(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    sections = message["cardsV2"][0]["card"]["sections"]
    return [w[kind] for s in sections for w in s["widgets"] if kind in w]


def test_a_succeeded_render_shows_header_facts_poster_and_video() -> None:
    message = body("google_chat", succeeded())
    google_chat_spec(message)
    header = message["cardsV2"][0]["card"]["header"]
    assert header["title"] == "✅ Runway video2video task tsk_1 succeeded"
    facts = _widgets(message, "decoratedText")
    assert [f["topLabel"] for f in facts] == [
        "Prompt",
        "Model",
        "Duration",
        "Cost",
        "Upstream task",
    ]
    assert _widgets(message, "image") == [{"imageUrl": POSTER, "altText": "Poster"}]
    [buttons] = _widgets(message, "buttonList")
    assert buttons["buttons"][0]["onClick"]["openLink"]["url"] == VIDEO


def test_hostile_text_stays_text() -> None:
    message = body("google_chat", failed())
    texts = google_chat_spec(message)
    joined = "\n".join(texts)
    assert "<users/all>" not in joined and '<a href="https://evil' not in joined
    assert '&lt;a href="https://evil.invalid"&gt;y&lt;/a&gt;' in joined
    [reason] = _widgets(message, "textParagraph")
    assert reason["text"].startswith("<b>Reason:</b> &lt;!channel&gt; &lt;https://evil.invalid|")


def test_long_text_stays_under_32_kb_and_links_stay_whole() -> None:
    doc = huge()
    texts = google_chat_spec(body("google_chat", doc))
    anchors = [a for text in texts for a in re.findall(r'href="([^"]+)"', text)]
    assert anchors and all(html.unescape(a) in doc["outputs"] for a in anchors)
    message = body("google_chat", wide())  # over 32 KB before its texts are shortened
    google_chat_spec(message)
    assert _widgets(message, "buttonList") and _widgets(message, "textParagraph")


def test_the_disabled_notice() -> None:
    message = body("google_chat", notice())
    google_chat_spec(message)
    header = message["cardsV2"][0]["card"]["header"]
    assert header["title"] == "⚠️ runway-relay stopped delivering to team-slack: failing"
    assert not _widgets(message, "buttonList")
