"""Telegram: the Bot API's sendVideo, sendPhoto or sendAudio by URL, or sendMessage, checked
against the documented parameters and limits (core.telegram.org/bots/api#sendvideo,
#sendphoto, #sendaudio, #sendmessage, #sending-files)."""

from __future__ import annotations

import json
from typing import Any

from receiver.destinations.chat_text import utf16_len
from receiver.destinations.http import with_path
from receiver.destinations.registry import render
from receiver.destinations.telegram import posted_message
from tests.unit.test_render_common import (
    TELEGRAM_URL,
    VIDEO,
    failed,
    huge,
    notice,
    outputs,
    succeeded,
)

METHODS = {
    "/sendVideo": ({"chat_id", "video"}, {"caption", "supports_streaming", "message_thread_id"}),
    "/sendPhoto": ({"chat_id", "photo"}, {"caption", "message_thread_id"}),
    "/sendAudio": ({"chat_id", "audio"}, {"caption", "message_thread_id"}),
    "/sendMessage": ({"chat_id", "text"}, {"message_thread_id"}),
}
SENT_FILE = {"/sendVideo": "video", "/sendPhoto": "photo", "/sendAudio": "audio"}


def telegram_spec(path: str, params: Any) -> str:
    """A stand-in for the Bot API's checks of one call; the text shown."""
    required, optional = METHODS[path]
    assert required <= set(params) <= required | optional, set(params)
    assert isinstance(params["chat_id"], int) or str(params["chat_id"]).startswith("@")
    assert "parse_mode" not in params  # plain text: no entity can be a link or a mention
    if path in SENT_FILE:
        assert params[SENT_FILE[path]].startswith("https://")
        text = params.get("caption", "")
        assert utf16_len(text) <= 1024
    else:
        text = params["text"]
        assert 1 <= utf16_len(text) <= 4096
    return str(text)


def call(doc: dict[str, Any], url: str = TELEGRAM_URL) -> tuple[str, dict[str, Any]]:
    rendered = render("telegram", doc, url)
    return rendered.path, json.loads(rendered.body)


def test_a_succeeded_render_sends_the_video_with_a_caption() -> None:
    path, params = call(succeeded())
    caption = telegram_spec(path, params)
    assert path == "/sendVideo" and params["video"] == VIDEO and params["chat_id"] == -1001234
    assert caption.splitlines() == [
        "✅ Runway video2video task tsk_1 succeeded",
        "Prompt: a cat on a skateboard",
        "Model: gen4_aleph",
        "Duration: 5 s",
        "Cost: 320 credits",
        "Upstream task: up-1",
    ]
    # The worker posts to the method after the token; the chat stays in the query too.
    assert with_path(TELEGRAM_URL, path) == (
        "https://api.telegram.org/bot123456:SECRET-token/sendVideo?chat_id=-1001234"
    )


def test_a_failure_is_a_message_with_its_text_as_typed() -> None:
    path, params = call(failed())
    text = telegram_spec(path, params)
    assert path == "/sendMessage"
    assert "Reason: <!channel> <https://evil.invalid|Download your render>" in text


def test_a_video_over_20_mb_is_sent_as_a_link() -> None:
    media = {
        "status": "mirrored",
        "files": [
            {
                "role": "video",
                "source": VIDEO,
                "url": "https://relay.test.invalid/media/v",
                "bytes": 21 * 1024 * 1024,
                "content_type": "video/mp4",
            }
        ],
    }
    path, params = call(succeeded() | {"media": media})
    text = telegram_spec(path, params)
    assert path == "/sendMessage"
    assert "Output: https://relay.test.invalid/media/v" in text.splitlines()
    assert "over the 20 MB" in text
    small = {**media, "files": [{**media["files"][0], "bytes": 19 * 1024 * 1024}]}
    path, params = call(succeeded() | {"media": small})
    assert path == "/sendVideo" and params["video"] == "https://relay.test.invalid/media/v"


def test_long_text_and_many_outputs_stay_within_1024_and_4096_and_urls_stay_whole() -> None:
    doc = huge()
    path, params = call(doc)
    caption = telegram_spec(path, params)
    assert path == "/sendVideo" and params["video"] == doc["outputs"][0]
    assert caption.splitlines()[-1].endswith("…")  # the reason, cut at a word
    # No video it could fetch: a message, the reason cut, every link listed whole.
    doc = huge() | {"outputs": ["https://cdn.test.invalid/x y.mp4", "not a url"]}
    path, params = call(doc)
    text = telegram_spec(path, params)
    assert path == "/sendMessage" and utf16_len(text) > 1024
    path, params = call(failed() | {"outputs": outputs(80)[1:], "thumbnail": None})
    text = telegram_spec(path, params)
    listed = [
        line.removeprefix("Output: ") for line in text.splitlines() if line.startswith("Output")
    ]
    assert all(url in outputs(80) for url in listed)
    # Counted in UTF-16 code units, as Telegram counts: an emoji outside the BMP is two.
    telegram_spec(*call(succeeded() | {"prompt": "🎬" * 3000}))
    telegram_spec(*call(failed() | {"error": "🎬" * 3000}))


def test_the_chat_and_topic_come_from_the_url() -> None:
    url = "https://api.telegram.org/bot1:x?chat_id=@renders&message_thread_id=7"
    path, params = call(notice(), url)
    text = telegram_spec(path, params)
    assert path == "/sendMessage" and params["chat_id"] == "@renders"
    assert params["message_thread_id"] == 7
    assert text.startswith("⚠️ runway-relay stopped delivering to team-slack: failing")


def test_without_a_chat_id_telegram_is_left_to_refuse_the_call() -> None:
    # Telegram answers 400 "chat_id is empty": dead-lettered at once, with that reason.
    path, params = call(succeeded(), "https://api.telegram.org/bot1:x")
    assert path == "/sendVideo" and "chat_id" not in params


def test_a_posted_message_is_edited_in_place() -> None:
    text = render("telegram", succeeded(), TELEGRAM_URL, posted=("42", False))
    assert text.path == "/editMessageText"
    assert json.loads(text.body)["message_id"] == 42
    video = render("telegram", succeeded(), TELEGRAM_URL, posted=("7", True))
    assert video.path == "/editMessageCaption"
    assert len(json.loads(video.body)["caption"]) <= 1024
    answer = '{"ok":true,"result":{"message_id":99,"chat":{"id":-1}}}'
    assert posted_message("/sendVideo", answer) == ("99", True)
    assert posted_message("/sendMessage", answer) == ("99", False)
    assert posted_message("/editMessageText", answer) is None
