"""Upstream text in a chat message stays text: no channel pings, no disguised links."""

from __future__ import annotations

import json

import pytest

from tests.conftest import MakeRelay
from tests.fault.support import Figures, backend_of
from tests.harness import Simulator, Sink, settled, video2video

pytestmark = pytest.mark.fault
HOSTILE = (
    "<!channel> <https://evil.invalid|Download your render> [here](https://evil.invalid) @everyone"
)


def test_failure_text_from_upstream_is_escaped_in_slack_and_discord(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, figures: Figures, storage_url: str
) -> None:
    relay = make_relay(
        [
            {"name": "slack", "url": f"{sink.url}/slack", "format": "slack", "timeout": 2.0},
            {"name": "discord", "url": f"{sink.url}/discord", "format": "discord", "timeout": 2.0},
        ]
    )
    task = relay.submit(**video2video(prompt=f"FAIL:{HOSTILE}")).json()
    done = relay.wait_task(task["id"], settled)
    assert done["state"] == "failed" and "<!channel>" in done["error"]
    [slack] = [json.loads(h["body"]) for h in sink.accepted("/slack")]
    [discord] = [json.loads(h["body"]) for h in sink.accepted("/discord")]
    assert "<!channel>" not in slack["text"] and "<https://evil" not in slack["text"]
    description = discord["embeds"][0]["description"]
    assert "[here](https://evil" not in description and "\\@everyone" in description
    assert discord["allowed_mentions"] == {"parse": []}
    figures.record(
        "chat_injection",
        backend=backend_of(storage_url),
        slack_pings=slack["text"].count("<!"),
        slack_masked_links=slack["text"].count("<https"),
        discord_markdown_links=description.count("]("),
    )
