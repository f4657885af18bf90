"""Discord: one embed through a webhook, checked against the documented embed limits
(discord.com/developers/docs/resources/message#embed-object-embed-limits)."""

from __future__ import annotations

import re
from typing import Any

from tests.unit.test_render_common import POSTER, VIDEO, body, failed, huge, notice, succeeded

# A Markdown link or mention that Discord would render: not preceded by our backslash.
LIVE_LINK = re.compile(r"(?<!\\)\]\(")
LIVE_MENTION = re.compile(r"(?<!\\)@(everyone|here|channel)")


def discord_spec(message: Any) -> list[str]:
    """A stand-in for Discord's validation of an execute-webhook body; the texts shown."""
    assert isinstance(message, dict)
    assert message.get("content") is None or len(message["content"]) <= 2000
    assert message["allowed_mentions"] == {"parse": []}  # no pings, whatever the text says
    embeds = message["embeds"]
    assert isinstance(embeds, list) and 1 <= len(embeds) <= 10
    texts: list[str] = []
    total = 0
    for embed in embeds:
        assert set(embed) <= {
            "title",
            "description",
            "url",
            "color",
            "fields",
            "image",
            "footer",
            "timestamp",
        }
        title, description = embed.get("title", ""), embed.get("description", "")
        assert len(title) <= 256 and len(description) <= 4096
        assert "description" not in embed or description  # never an empty string
        fields = embed.get("fields", [])
        assert len(fields) <= 25
        for field in fields:
            assert 1 <= len(field["name"]) <= 256 and 1 <= len(field["value"]) <= 1024
            assert isinstance(field.get("inline", False), bool)
        footer = embed.get("footer", {}).get("text", "")
        assert len(footer) <= 2048
        for key in ("url",):
            if key in embed:
                assert embed[key].startswith("https://")
        if "image" in embed:
            assert embed["image"]["url"].startswith("https://")
        assert isinstance(embed.get("color", 0), int) and 0 <= embed.get("color", 0) <= 0xFFFFFF
        total += len(title) + len(description) + len(footer)
        total += sum(len(f["name"]) + len(f["value"]) for f in fields)
        texts += [title, description, footer, *(f["value"] for f in fields)]
    assert total <= 6000
    return texts


def test_a_succeeded_render_shows_title_fields_poster_and_video() -> None:
    message = body("discord", succeeded())
    discord_spec(message)
    [embed] = message["embeds"]
    assert embed["title"] == "✅ Runway video2video task tsk_1 succeeded"
    assert embed["url"] == VIDEO and embed["image"] == {"url": POSTER}
    assert [f["name"] for f in embed["fields"]] == [
        "Prompt",
        "Model",
        "Duration",
        "Cost",
        "Upstream task",
    ]
    assert embed["fields"][1]["value"] == "gen4\\_aleph"  # Markdown shown as typed
    assert embed["description"] == f"Output: {VIDEO}"
    assert embed["timestamp"] == "2023-11-14T22:14:21Z"


def test_hostile_text_can_neither_ping_nor_pass_for_a_link() -> None:
    message = body("discord", failed())
    for text in discord_spec(message):
        assert not LIVE_LINK.search(text) and not LIVE_MENTION.search(text), text
    [embed] = message["embeds"]
    assert "\\[x\\]\\(https://evil.invalid\\)" in embed["description"]
    assert "\\@everyone" in embed["fields"][0]["value"]
    assert "url" not in embed and "image" not in embed


def test_long_text_and_many_outputs_fit_6000_and_urls_stay_whole() -> None:
    doc = huge()
    message = body("discord", doc)
    discord_spec(message)
    [embed] = message["embeds"]
    reason, *links = embed["description"].splitlines()
    assert reason.startswith("Reason: EEEE") and reason.endswith("…")
    for url in re.findall(r"https://evil\S*", reason[:-1]):
        assert re.fullmatch(r"https://evil\.invalid/\d+/p{40}", url), url
    assert links and all(line.removeprefix("Output: ") in doc["outputs"] for line in links)
    assert embed["fields"][0]["value"].endswith("…")  # the prompt, cut at a word


def test_the_disabled_notice() -> None:
    message = body("discord", notice())
    discord_spec(message)
    [embed] = message["embeds"]
    assert embed["title"] == "⚠️ runway-relay stopped delivering to team-slack: failing"
    assert [f["name"] for f in embed["fields"]] == ["Downstream", "Reason", "Failing since"]
    assert "description" not in embed and embed["footer"]["text"] == "runway-relay · evt_2"
