"""Slack: Block Kit through an incoming webhook, checked against Block Kit's documented
shapes and limits (docs.slack.dev/reference/block-kit)."""

from __future__ import annotations

import re
from typing import Any

from tests.unit.test_render_common import (
    POSTER,
    VIDEO,
    body,
    failed,
    huge,
    notice,
    outputs,
    succeeded,
)

OUR_LINK = re.compile(r"<https?://[^\s<>|]+\|(Video|Image|Audio) \d+>")


def _text(obj: Any, limit: int, types: tuple[str, ...] = ("plain_text", "mrkdwn")) -> str:
    assert isinstance(obj, dict) and obj["type"] in types, obj
    text = obj["text"]
    assert isinstance(text, str) and 1 <= len(text) <= limit, len(text)
    if obj["type"] == "mrkdwn":
        assert obj.get("verbatim") is True  # no automatic parsing of names or links
        # Slack's control sequences: none but the links we make ourselves.
        assert "<" not in OUR_LINK.sub("", text) and ">" not in OUR_LINK.sub("", text), text
    else:
        assert set(obj) <= {"type", "text", "emoji"}
    return text


def slack_spec(message: Any) -> list[str]:
    """A stand-in for Slack's validation of an incoming-webhook message; the texts shown."""
    assert isinstance(message, dict) and set(message) <= {"text", "blocks"}
    assert isinstance(message["text"], str) and 1 <= len(message["text"]) <= 40_000
    blocks = message["blocks"]
    assert isinstance(blocks, list) and 1 <= len(blocks) <= 50
    texts = [message["text"]]
    for block in blocks:
        kind = block["type"]
        if kind == "header":
            assert set(block) <= {"type", "text", "block_id"}
            texts.append(_text(block["text"], 150, ("plain_text",)))
        elif kind == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                texts.append(_text(block["text"], 3000))
            fields = block.get("fields", [])
            assert len(fields) <= 10
            texts.extend(_text(f, 2000) for f in fields)
        elif kind == "image":
            url = block["image_url"]
            assert isinstance(url, str) and url.startswith("https://") and len(url) <= 3000
            assert isinstance(block["alt_text"], str) and 1 <= len(block["alt_text"]) <= 2000
        elif kind == "actions":
            elements = block["elements"]
            assert 1 <= len(elements) <= 25
            for button in elements:
                assert button["type"] == "button"
                texts.append(_text(button["text"], 75, ("plain_text",)))
                assert isinstance(button["url"], str) and len(button["url"]) <= 3000
                assert len(button.get("action_id", "")) <= 255
        else:
            raise AssertionError(f"block type {kind} is not one we mean to send")
    return texts


def _blocks(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [b for b in message["blocks"] if b["type"] == kind]


def test_a_succeeded_render_shows_its_facts_poster_and_video() -> None:
    message = body("slack", succeeded())
    slack_spec(message)
    [header] = _blocks(message, "header")
    assert header["text"]["text"] == "✅ Runway video2video task tsk_1 succeeded"
    [facts] = [b for b in _blocks(message, "section") if "fields" in b]
    labels = [f["text"].split("\n", 1)[0] for f in facts["fields"]]
    assert labels == ["*Prompt*", "*Model*", "*Duration*", "*Cost*", "*Upstream task*"]
    assert facts["fields"][2]["text"] == "*Duration*\n5 s"
    assert facts["fields"][3]["text"] == "*Cost*\n320 credits"
    [image] = _blocks(message, "image")
    assert image["image_url"] == POSTER
    [actions] = _blocks(message, "actions")
    assert actions["elements"][0]["url"] == VIDEO
    assert message["text"].startswith("✅ Runway video2video task tsk_1 succeeded\n")


def test_hostile_text_can_neither_ping_nor_pass_for_a_link() -> None:
    message = body("slack", failed())
    texts = slack_spec(message)
    joined = "\n".join(texts)
    assert "<!channel>" not in joined and "<https://evil" not in joined and "<users" not in joined
    assert "&lt;!channel&gt;" in joined and "&lt;https://evil.invalid|Download" in joined
    assert not _blocks(message, "image") and not _blocks(message, "actions")
    [facts] = [b for b in _blocks(message, "section") if "fields" in b]
    assert "*Cost*\n320 credits (320 refunded)" in [f["text"] for f in facts["fields"]]


def test_long_text_and_many_outputs_stay_within_the_limits_and_links_stay_whole() -> None:
    doc = huge()
    message = body("slack", doc)
    slack_spec(message)
    [videos] = [
        b
        for b in _blocks(message, "section")
        if b.get("text", {}).get("text", "").startswith("*Videos*")
    ]
    links = videos["text"]["text"].splitlines()[1:]
    escaped = [u.replace("&", "&amp;") for u in doc["outputs"]]
    assert links and all(OUR_LINK.fullmatch(line) for line in links)
    assert [line[1:].split("|")[0] for line in links] == escaped[: len(links)]
    for line in message["text"].splitlines():
        if line.startswith("Output: "):
            assert line.removeprefix("Output: ") in escaped


def test_an_output_that_cannot_be_a_link_is_shown_as_text() -> None:
    odd = "https://cdn.test.invalid/a|b>.mp4"
    message = body("slack", succeeded() | {"outputs": [odd, *outputs(1)]})
    texts = slack_spec(message)
    assert "https://cdn.test.invalid/a|b&gt;.mp4" in "\n".join(texts)


def test_the_disabled_notice() -> None:
    message = body("slack", notice())
    slack_spec(message)
    assert message["blocks"][0]["text"]["text"].startswith(
        "⚠️ runway-relay stopped delivering to team-slack"
    )
    [facts] = _blocks(message, "section")
    assert [f["text"] for f in facts["fields"]] == [
        "*Downstream*\nteam-slack",
        "*Reason*\nfailing",
        "*Failing since*\n2023-11-03T08:26:40Z",
    ]
