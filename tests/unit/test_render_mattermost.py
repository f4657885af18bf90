"""Mattermost: Slack-compatible attachments through an incoming webhook, checked against the
documented webhook fields (developers.mattermost.com/integrate/webhooks/incoming) and the
16,383-character limit of a post."""

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
    strings,
    succeeded,
    wide,
)

ATTACHMENT_KEYS = {
    "fallback",
    "color",
    "pretext",
    "text",
    "author_name",
    "author_link",
    "author_icon",
    "title",
    "title_link",
    "fields",
    "image_url",
    "thumb_url",
    "footer",
    "footer_icon",
}
# What Mattermost would turn into a ping or a link of someone else's making.
PING = re.compile(r"@(channel|all|here|everyone|[a-z])|<!|<https?:|<[a-z0-9]{26}>")
OUR_LINK = re.compile(r"\[(Video|Image|Audio) \d+\]\(https://[^\s()]+\)")
LIVE_LINK = re.compile(r"(?<!\\)\]\(|(?<!\\)\]\[|(?<!\\)\]:")


def mattermost_spec(message: Any) -> list[str]:
    """A stand-in for Mattermost's checks of an incoming-webhook post; the texts shown."""
    assert set(message) <= {"text", "attachments", "username", "icon_url", "props"}
    assert sum(len(s) for s in strings(message)) <= 16_383
    texts = [message["text"]]
    for attachment in message["attachments"]:
        assert set(attachment) <= ATTACHMENT_KEYS and attachment["fallback"]
        assert re.fullmatch(r"#[0-9A-F]{6}", attachment["color"])
        for key in ("title_link", "image_url"):
            assert key not in attachment or attachment[key].startswith("https://")
        for field in attachment.get("fields", []):
            assert set(field) == {"title", "value", "short"} and isinstance(field["short"], bool)
            texts += [field["title"], field["value"]]
        texts += [attachment.get("text", ""), attachment.get("title", "")]
    return texts


def test_a_succeeded_render_shows_fields_poster_and_video() -> None:
    message = body("mattermost", succeeded())
    mattermost_spec(message)
    assert message["text"] == "✅ Runway video2video task tsk\\_1 succeeded"
    [attachment] = message["attachments"]
    assert attachment["title_link"] == VIDEO and attachment["image_url"] == POSTER
    assert [f["title"] for f in attachment["fields"]] == [
        "Prompt",
        "Model",
        "Duration",
        "Cost",
        "Upstream task",
    ]
    assert attachment["color"] == "#2EB67D"


def test_hostile_text_can_neither_ping_nor_pass_for_a_link() -> None:
    message = body("mattermost", failed())
    for text in mattermost_spec(message):
        assert not PING.search(text), text
        assert not LIVE_LINK.search(OUR_LINK.sub("", text)), text
    [attachment] = message["attachments"]
    assert attachment["text"].startswith("**Reason:** &lt;\\!channel&gt; &lt;https://evil.invalid")
    assert "@\u2060everyone" in attachment["text"]
    assert "title_link" not in attachment and "image_url" not in attachment


def test_long_text_and_many_outputs_stay_within_16383_and_links_stay_whole() -> None:
    doc = huge()
    message = body("mattermost", doc)
    texts = mattermost_spec(message)
    links = [line for text in texts for line in text.splitlines() if line.startswith("[Video")]
    assert links and all(OUR_LINK.fullmatch(line) for line in links)
    assert all(line[line.index("(") + 1 : -1] in doc["outputs"] for line in links)
    mattermost_spec(body("mattermost", wide()))


def test_the_disabled_notice() -> None:
    message = body("mattermost", notice())
    mattermost_spec(message)
    assert message["text"] == "⚠️ runway-relay stopped delivering to team-slack: failing"
    assert message["attachments"][0]["fallback"] == message["text"]
