"""Chat renderers: the documents every format is tried on, and what they share (cutting to a
limit, the Telegram path and chat, relay copies preferred to expiring links, the examples)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import orjson
import pytest

from receiver.config import DownstreamConfig
from receiver.destinations.chat_text import clip, cut, utf16_len
from receiver.destinations.http import with_path
from receiver.destinations.provider import Rendered
from receiver.destinations.registry import RENDERED, render
from receiver.destinations.telegram import file_bytes, telegram_chat
from receiver.destinations.webhook import webhook

HOSTILE = (
    "<!channel> <https://evil.invalid|Download your render> [x](https://evil.invalid)"
    ' @everyone @channel <users/all> <a href="https://evil.invalid">y</a> [r][1]\n\n'
    "[1]: https://evil.invalid"
)
VIDEO = "https://cdn.test.invalid/out/tsk_1.mp4?sig=abc&exp=1"
POSTER = "https://cdn.test.invalid/out/tsk_1-last.png?sig=abc&exp=1"


def document(**over: Any) -> dict[str, Any]:
    """A stored event document, as `event_document` writes it (succeeded, with a poster)."""
    return {
        "event_id": "evt_1",
        "task_id": "tsk_1",
        "upstream_task_id": "up-1",
        "kind": "video2video",
        "state": "succeeded",
        "upstream_status": "SUCCESS",
        "outputs": [VIDEO],
        "thumbnail": POSTER,
        "error": None,
        "point": 320.0,
        "refund": 0.0,
        "upstream_created_at": 1_700_000_000.0,
        "upstream_updated_at": 1_700_000_060.0,
        "source": "callback",
        "occurred_at": 1_700_000_061.0,
        **over,
    }


def succeeded() -> dict[str, Any]:
    """With the facts a later document may carry (prompt, model, duration)."""
    return document(prompt="a cat on a skateboard", model="gen4_aleph", duration=5)


def failed() -> dict[str, Any]:
    """Hostile text wherever upstream or a user writes: the failure reason and the prompt."""
    return document(
        state="failed",
        upstream_status="FAILURE",
        outputs=[],
        thumbnail=None,
        error=HOSTILE,
        prompt=HOSTILE,
        point=320.0,
        refund=320.0,
    )


def outputs(n: int) -> list[str]:
    return [
        f"https://cdn.test.invalid/out/{i:03d}/" + "v" * 90 + f".mp4?sig={i}&exp=1"
        for i in range(n)
    ]


def huge() -> dict[str, Any]:
    """A very long reason (with a URL in it) and prompt, and many outputs."""
    words = " ".join(f"word{i} https://evil.invalid/{i}/" + "p" * 40 for i in range(800))
    return document(
        state="succeeded",
        outputs=outputs(80),
        error="E" * 50 + " " + words,
        prompt="prompt " * 2000,
        model="m" * 500,
    )


def wide() -> dict[str, Any]:
    """Text that is long in bytes: four-byte emoji, and control characters that JSON writes
    as six (`\\u0001`), wherever a fact or a reason can be."""
    return document(
        error="\x01" * 6000,
        prompt="🎬" * 3000,
        model="\x02" * 3000,
        upstream_task_id="🎬" * 3000,
    )


def notice() -> dict[str, Any]:
    """The relay's notice that it gave up on a downstream (persist/downstreams.py `_notify`)."""
    return {
        "event_id": "evt_2",
        "type": "downstream.disabled",
        "task_id": "relay",
        "kind": "relay",
        "state": "downstream.disabled",
        "downstream": "team-slack",
        "reason": "failing",
        "failing_since": 1_699_000_000.0,
        "occurred_at": 1_700_000_000.0,
    }


DOCUMENTS = {
    "succeeded": succeeded,
    "failed": failed,
    "huge": huge,
    "wide": wide,
    "notice": notice,
}
TELEGRAM_URL = "https://api.telegram.org/bot123456:SECRET-token?chat_id=-1001234"


def body(fmt: str, doc: dict[str, Any], url: str = TELEGRAM_URL) -> Any:
    return json.loads(render(fmt, doc, url).body)


def strings(value: Any) -> list[str]:
    """Every string in a JSON value, keys left out."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


# --- every format, every document ------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
@pytest.mark.parametrize("fmt", RENDERED)
def test_every_format_renders_every_document_as_json(fmt: str, name: str) -> None:
    doc = DOCUMENTS[name]()
    rendered = render(fmt, doc, TELEGRAM_URL)
    assert isinstance(rendered, Rendered) and isinstance(rendered.body, bytes)
    assert isinstance(json.loads(rendered.body), dict)
    assert rendered.path in (("/sendVideo", "/sendMessage") if fmt == "telegram" else ("",))
    assert render(fmt, doc, TELEGRAM_URL) == rendered  # the same body on every retry


def test_the_webhook_event_is_unchanged() -> None:
    doc = succeeded()
    rendered = render("webhook", doc)
    assert rendered == Rendered(orjson.dumps(webhook(doc)), "")
    assert json.loads(rendered.body) == {
        "type": "task.succeeded",
        "timestamp": "2023-11-14T22:14:21Z",
        "data": doc,
    }
    assert json.loads(render("webhook", notice()).body)["type"] == "downstream.disabled"


def test_every_format_is_a_config_choice() -> None:
    for fmt in RENDERED:
        assert DownstreamConfig(name="d", url="https://x.invalid/h", format=fmt).format == fmt


# --- cutting ---------------------------------------------------------------------------


def test_clip_cuts_at_a_word_and_never_inside_a_url_or_an_entity() -> None:
    assert clip("short", 10) == "short"
    assert clip("one two three", 9) == "one two…"
    text = "see https://cdn.test.invalid/" + "a" * 50 + " after"
    assert clip(text, 40) == "see…"
    assert clip("a &amp; b &lt;!channel&gt;", 16) == "a &amp; b…"
    assert len(clip("x" * 50, 10)) == 10  # unbroken text is cut where it must be
    assert clip("日本語" * 100, 11) == "日本語日本語日本語日…"


def test_clip_counts_in_the_unit_it_is_given() -> None:
    emoji = "🎬" * 1500
    assert utf16_len(emoji) == 3000
    assert utf16_len(clip(emoji, 1024, utf16_len)) <= 1024
    assert len(clip(emoji, 1024)) == 1024


def test_cut_keeps_whole_lines_and_never_ends_in_a_broken_link() -> None:
    assert cut(["ab", "cd", "ef"], 5) == "ab\ncd"
    links = [f"Output: {u}" for u in outputs(30)]
    text = cut(["Reason: it broke", *links], 1000)
    assert len(text) <= 1000
    assert all(line in links for line in text.splitlines()[1:])
    long_reason = "Reason: " + "word " * 400
    text = cut(["headline", long_reason, *links], 1000)
    assert text.startswith("headline\nReason: word") and text.endswith("…")
    assert len(text) <= 1000


# --- where Telegram posts ----------------------------------------------------------------


def test_with_path_goes_before_the_query_string() -> None:
    assert with_path(TELEGRAM_URL, "/sendVideo") == (
        "https://api.telegram.org/bot123456:SECRET-token/sendVideo?chat_id=-1001234"
    )
    assert (
        with_path("https://h.invalid/bot1:x/", "/sendMessage")
        == "https://h.invalid/bot1:x/sendMessage"
    )
    assert with_path("https://h.invalid/hook?a=1", "") == "https://h.invalid/hook?a=1"


def test_telegram_chat_comes_from_the_query_string() -> None:
    assert telegram_chat(TELEGRAM_URL) == (-1001234, None)
    assert telegram_chat("https://api.telegram.org/bot1:x?chat_id=@renders") == ("@renders", None)
    url = "https://api.telegram.org/bot1:x?chat_id=-100&message_thread_id=7"
    assert telegram_chat(url) == (-100, 7)
    assert telegram_chat("https://api.telegram.org/bot1:x") == (None, None)


# --- relay copies --------------------------------------------------------------------------


def mirrored(**over: Any) -> dict[str, Any]:
    copy = "https://relay.test.invalid/media/token-video"
    poster = "https://relay.test.invalid/media/token-poster"
    media = {
        "status": "mirrored",
        "files": [
            {
                "role": "video",
                "source": VIDEO,
                "url": copy,
                "sha256": "0" * 64,
                "bytes": 2_000_000,
                "content_type": "video/mp4",
            },
            {
                "role": "poster",
                "source": POSTER,
                "url": poster,
                "sha256": "1" * 64,
                "bytes": 9_000,
                "content_type": "image/png",
            },
        ],
    }
    return {**succeeded(), "media": media, **over}


@pytest.mark.parametrize("fmt", [f for f in RENDERED if f != "webhook"])
def test_chat_messages_link_the_relay_copy_not_the_expiring_cdn_link(fmt: str) -> None:
    texts = strings(body(fmt, mirrored()))
    joined = "\n".join(texts)
    assert "https://relay.test.invalid/media/token-video" in joined
    assert VIDEO not in joined and VIDEO.replace("&", "&amp;") not in joined
    if fmt != "telegram":  # Telegram shows the video itself, not the poster
        assert "https://relay.test.invalid/media/token-poster" in joined


def test_a_failed_copy_keeps_the_original_links() -> None:
    doc = {**succeeded(), "media": {"status": "failed", "reason": "too large"}}
    assert body("discord", doc)["embeds"][0]["url"] == VIDEO


def test_file_size_is_read_from_the_document_when_it_is_there() -> None:
    doc = mirrored()
    assert file_bytes(doc, "https://relay.test.invalid/media/token-video") == 2_000_000
    assert file_bytes(doc, VIDEO) == 2_000_000  # named as the copy's source
    assert file_bytes(succeeded(), VIDEO) is None
    assert file_bytes({**succeeded(), "media": "odd"}, VIDEO) is None
    other = {"files": [{"url": "https://x.invalid/a.mp4", "size": 5, "content_type": "video/mp4"}]}
    assert file_bytes({**succeeded(), "mirror": other}, "https://y.invalid/b.mp4") == 5


# --- config.example.toml -------------------------------------------------------------------

EXAMPLE = Path(__file__).parents[2] / "config.example.toml"


def test_the_commented_examples_in_the_example_config_are_valid() -> None:
    """They are commented out, so that the example loads without their secrets; with the
    `# ` taken off, each is a valid [[downstream]] of its format."""
    example = re.compile(r"# (\[\[downstream\]\]|[a-z_]+ = )")
    lines, in_pem = [], False  # a PEM, a multi-line string, is kept whole
    for line in EXAMPLE.read_text().splitlines():
        if example.match(line) or in_pem:
            lines.append(line[2:])
            in_pem ^= line.count('"""') % 2 == 1
    examples = tomllib.loads("\n".join(lines))["downstream"]
    chats = ["teams", "telegram", "google_chat", "mattermost"]
    assert [e["format"] for e in examples] == [
        "webhook",
        *chats,
        "amqp",
        "nats",
        "mqtt",
        "redis",
        "kafka",
        "sqs",
        "sns",
        "eventbridge",
        "kinesis",
        "s3",
    ]
    # The one that proves itself to its endpoint takes its secrets from the environment.
    erp = examples[0]
    assert {"auth", "tls", "proxy", "auth_secret_env", "client_key_env"} <= set(erp)
    assert "client_secret" not in erp["auth"] and "client_key" not in erp["tls"]
    for entry in examples:
        DownstreamConfig(**entry)
        if entry["format"] in chats:
            assert "url_env" in entry and "url" not in entry  # every chat URL holds a credential
