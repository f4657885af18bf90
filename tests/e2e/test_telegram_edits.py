"""Telegram edits a task's first message in place as the task moves on, instead of
posting a new message for every state."""

from __future__ import annotations

import json

from tests.conftest import MakeRelay
from tests.harness import SEEN_RUNNING, Simulator, Sink, image_to_video, settled

TOKEN = "123456:SECRET-bot-token-for-edits"


def test_later_states_edit_the_first_message(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
) -> None:
    sink.mode(telegram=True)  # answers as the Bot API does, with the new message's id
    relay = make_relay(
        [
            {
                "name": "telegram",
                "url_env": "TELEGRAM_BOT_URL",
                "format": "telegram",
                "events": ["running", "succeeded"],
                "timeout": 8.0,
            }
        ],
        env={"TELEGRAM_BOT_URL": f"{sink.url}/bot{TOKEN}?chat_id=-100"},
    )
    seen_running = image_to_video(promptText=SEEN_RUNNING)
    task = relay.wait_task(relay.submit(**seen_running).json()["id"], settled)
    assert task["state"] == "succeeded"
    hits = sink.accepted()
    methods = [h["path"].rsplit("/", 1)[1] for h in hits]
    # The running state has no video yet: a text message, which the result then edits.
    assert methods == ["sendMessage", "editMessageText"]
    first, edit = (json.loads(h["body"]) for h in hits)
    answered_id = 1  # the stand-in numbers messages by the requests it has seen
    assert edit["message_id"] == answered_id and edit["chat_id"] == -100
    assert "succeeded" in edit["text"] and "running" in first["text"]
    assert TOKEN not in relay.log()
