"""Chat messages render upstream text as text: no pings, no disguised links, no cut URLs."""

from __future__ import annotations

import html
import json
from typing import Any

from receiver.destinations.chat_text import cut, discord_escape, slack_escape
from receiver.destinations.registry import render

VIDEO = "https://cdn.test.invalid/out/" + "v" * 80 + ".mp4?sig=abc&exp=1"


def event(**over: Any) -> dict[str, Any]:
    return {
        "event_id": "evt_1",
        "task_id": "tsk_1",
        "upstream_task_id": "up-1",
        "kind": "video2video",
        "state": "failed",
        "upstream_status": "FAILURE",
        "outputs": [],
        "thumbnail": None,
        "error": "<!channel> see <https://evil.invalid|Download your render> & more",
        "source": "poll",
        "occurred_at": 1_700_000_000.0,
        **over,
    }


def test_slack_text_escapes_mentions_and_masked_links() -> None:
    text = json.loads(render("slack", event()).body)["text"]
    assert "<!channel>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt;" in text and "&amp; more" in text
    assert slack_escape("a<b>&c") == "a&lt;b&gt;&amp;c"


def test_discord_neutralises_markdown_links_and_mentions() -> None:
    body = json.loads(
        render("discord", event(error="[Download](https://evil.invalid) @everyone")).body
    )
    description = body["embeds"][0]["description"]
    assert "[Download](https://evil" not in description
    assert "\\[Download\\]\\(https" in description and "\\@everyone" in description
    assert body["allowed_mentions"] == {"parse": []}
    assert discord_escape("*x*") == "\\*x\\*"


def test_long_messages_are_cut_at_line_boundaries_never_inside_a_url() -> None:
    outputs = [VIDEO.replace("v" * 80, f"{i:02d}" * 40) for i in range(60)]
    body = json.loads(render("discord", event(state="succeeded", outputs=outputs, error=None)).body)
    description = body["embeds"][0]["description"]
    assert len(description) <= 4096
    assert all(line.removeprefix("Output: ") in outputs for line in description.splitlines())
    text = json.loads(render("slack", event(state="succeeded", outputs=outputs)).body)["text"]
    # Slack's `&` is written `&amp;`, in a URL too.
    last = html.unescape(text.splitlines()[-1])
    assert len(text) <= 3000 and last.removeprefix("Output: ") in outputs


def test_cut_keeps_whole_lines_and_cuts_an_overlong_first_line_at_a_space() -> None:
    assert cut(["ab", "cd", "ef"], 5) == "ab\ncd"
    assert cut(["one two three"], 9) == "one two…"
    assert len(cut(["x" * 50], 10)) <= 10
