"""Each chat format shows an output by its type (the event document's `output_type`): an
image as an image, a sound as a link to listen to (or Telegram's audio message), a video as
before. Every message is also checked against its platform's stand-in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from receiver.destinations.registry import render
from tests.unit.render_specs import SPECS
from tests.unit.test_render_common import TELEGRAM_URL, body, document, strings
from tests.unit.test_render_telegram import telegram_spec

IMAGE = "https://cdn.test.invalid/out/tsk_1.png?sig=abc&exp=1"
SOUND = "https://cdn.test.invalid/out/tsk_1.mp3?sig=abc&exp=1"
WAV = "https://cdn.test.invalid/out/tsk_1.wav?sig=abc&exp=1"


def image(*urls: str) -> dict[str, Any]:
    return document(
        kind="text_to_image", output_type="image", outputs=list(urls or [IMAGE]), thumbnail=None
    )


def sound(*urls: str) -> dict[str, Any]:
    return document(
        kind="sound_effect", output_type="audio", outputs=list(urls or [SOUND]), thumbnail=None
    )


def telegram(doc: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    rendered = render("telegram", doc, TELEGRAM_URL)
    params = json.loads(rendered.body)
    telegram_spec(rendered.path, params)
    return rendered.path, params


@pytest.mark.parametrize("doc", [image(), image(IMAGE, SOUND), sound(), sound(SOUND, WAV)])
@pytest.mark.parametrize("fmt", sorted(SPECS))
def test_image_and_audio_messages_keep_each_platforms_rules(fmt: str, doc: dict[str, Any]) -> None:
    SPECS[fmt](body(fmt, doc))


def test_slack_shows_an_image_and_labels_it() -> None:
    blocks = body("slack", image(IMAGE, IMAGE + "2"))["blocks"]
    [picture] = [b for b in blocks if b["type"] == "image"]
    assert picture["image_url"] == IMAGE and picture["alt_text"].startswith("Output of")
    [listed] = [b for b in blocks if b["type"] == "section" and "text" in b]
    assert listed["text"]["text"].startswith("*Images*\n") and "|Image 2>" in listed["text"]["text"]
    [actions] = [b for b in blocks if b["type"] == "actions"]
    assert actions["elements"][0]["text"]["text"] == "🖼 Open image"


def test_slack_links_a_sound_and_shows_no_image() -> None:
    blocks = body("slack", sound())["blocks"]
    assert not [b for b in blocks if b["type"] == "image"]
    [actions] = [b for b in blocks if b["type"] == "actions"]
    button = actions["elements"][0]
    assert button["text"]["text"] == "🔊 Listen" and button["url"] == SOUND
    assert button["action_id"] == "open_audio"


def test_discord_embeds_the_image_and_links_a_sound() -> None:
    [embed] = body("discord", image())["embeds"]
    assert embed["image"] == {"url": IMAGE}
    [embed] = body("discord", sound())["embeds"]
    assert "image" not in embed and embed["url"] == SOUND


def test_teams_shows_the_image_and_a_listen_button() -> None:
    card = body("teams", image())["attachments"][0]["content"]
    [picture] = [b for b in card["body"] if b["type"] == "Image"]
    assert picture["url"] == IMAGE and picture["altText"] == "Image"
    assert card["actions"][0]["title"] == "🖼 Open image"
    card = body("teams", sound(SOUND, WAV))["attachments"][0]["content"]
    assert not [b for b in card["body"] if b["type"] == "Image"]
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "🔊 Listen", "url": SOUND}]
    assert f"[Audio 2]({WAV})" in "\n".join(strings(card))


def test_google_chat_shows_the_image_widget_and_a_listen_button() -> None:
    sections = body("google_chat", image())["cardsV2"][0]["card"]["sections"]
    widgets = [w for s in sections for w in s["widgets"]]
    assert {"image": {"imageUrl": IMAGE, "altText": "Image"}} in widgets
    sections = body("google_chat", sound())["cardsV2"][0]["card"]["sections"]
    widgets = [w for s in sections for w in s["widgets"]]
    assert not [w for w in widgets if "image" in w]
    [buttons] = [w["buttonList"]["buttons"] for w in widgets if "buttonList" in w]
    assert buttons == [{"text": "🔊 Listen", "onClick": {"openLink": {"url": SOUND}}}]


def test_mattermost_attaches_the_image_and_links_a_sound() -> None:
    [attachment] = body("mattermost", image())["attachments"]
    assert attachment["image_url"] == IMAGE and attachment["title"] == "🖼 Open image"
    [attachment] = body("mattermost", sound())["attachments"]
    assert "image_url" not in attachment
    assert attachment["title"] == "🔊 Listen" and attachment["title_link"] == SOUND


def test_telegram_sends_a_photo_for_an_image() -> None:
    path, params = telegram(image())
    assert path == "/sendPhoto" and params["photo"] == IMAGE
    assert params["caption"].startswith("✅ Runway text_to_image task tsk_1 succeeded")


def test_telegram_sends_a_large_image_as_a_link() -> None:
    media = {"status": "mirrored", "files": [{"role": "image", "source": IMAGE, "url": IMAGE}]}
    media["files"][0] |= {"bytes": 6 * 1_048_576, "content_type": "image/png"}
    path, params = telegram({**image(), "media": media})
    assert path == "/sendMessage" and f"Output: {IMAGE}" in params["text"]
    assert "The image is 6 MB, over the 5 MB Telegram fetches:" in params["text"]


def test_telegram_sends_an_mp3_as_audio_and_other_sounds_as_links() -> None:
    path, params = telegram(sound())
    assert path == "/sendAudio" and params["audio"] == SOUND
    path, params = telegram(sound(WAV))  # sendAudio takes MP3 and M4A only
    assert path == "/sendMessage" and f"Output: {WAV}" in params["text"]


def test_telegram_reads_the_mirrored_copys_content_type() -> None:
    copy = "https://relay.test.invalid/media/token-audio"
    files = [
        {"role": "audio", "source": WAV, "url": copy, "bytes": 9, "content_type": "audio/mpeg"}
    ]
    path, params = telegram({**sound(WAV), "media": {"status": "mirrored", "files": files}})
    assert path == "/sendAudio" and params["audio"] == copy


@pytest.mark.parametrize("made", [None, "hologram", 3])
def test_a_missing_or_unknown_output_type_is_shown_as_a_video(made: Any) -> None:
    doc = document(output_type=made)
    path, _ = telegram(doc)
    assert path == "/sendVideo"
    [actions] = [b for b in body("slack", doc)["blocks"] if b["type"] == "actions"]
    assert actions["elements"][0]["text"]["text"] == "▶ Open video"
