"""Every chat format delivered by the real worker, on loopback: each body passes its
platform's stand-in, and Telegram's goes to the Bot API method after the token."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from receiver.devtools.localserver import BackgroundServer
from receiver.devtools.simulator import SimulatorConfig, create_simulator_app
from receiver.runway_api.models import models_of
from tests.conftest import MakeRelay
from tests.harness import API_KEY, Relay, Simulator, Sink, settled, video2video
from tests.unit.render_specs import SPECS
from tests.unit.test_render_telegram import telegram_spec

TOKEN = "123456:SECRET-bot-token-for-tests"


@pytest.fixture
def storage_url(tmp_path: Path) -> Iterator[str]:
    """Rendering does not depend on the store: the embedded one is enough here."""
    yield f"sqlite:///{tmp_path / 'relay.db'}"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """Renders named at https links, as CometAPI's are and as the platforms want them; the
    relay makes no copies here, so nothing looks those names up."""
    config = SimulatorConfig(api_key=API_KEY, seed=7, files_url="https://cdn.test.invalid/runway")
    server = BackgroundServer(create_simulator_app(config))
    server.start()
    made = Simulator(server)
    yield made
    made.close()


def _chat_relay(make_relay: MakeRelay, sink: Sink) -> Relay:
    """A relay with one downstream of each chat format, all at the sink (Telegram's bot URL
    from the environment, as an operator keeps its token)."""
    downstreams = [
        {"name": fmt, "url": f"{sink.url}/{fmt}", "format": fmt, "timeout": 2.0} for fmt in SPECS
    ]
    downstreams.append(
        {"name": "telegram", "url_env": "TELEGRAM_BOT_URL", "format": "telegram", "timeout": 2.0}
    )
    bot_url = f"{sink.url}/tg/bot{TOKEN}?chat_id=-1001234"
    return make_relay(downstreams, env={"TELEGRAM_BOT_URL": bot_url})


def test_each_chat_format_is_delivered_in_its_platforms_shape(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = _chat_relay(make_relay, sink)
    task = relay.submit(**video2video()).json()
    done = relay.wait_task(task["id"], settled)
    assert done["state"] == "succeeded" and done["outputs"]
    assert {d["downstream"]: d["state"] for d in done["deliveries"]} == {
        name: "succeeded" for name in [*SPECS, "telegram"]
    }
    for fmt, spec in SPECS.items():
        [hit] = sink.accepted(f"/{fmt}")
        spec(json.loads(hit["body"]))
    [hit] = sink.accepted(f"/tg/bot{TOKEN}/sendVideo")
    assert hit["query"] == "chat_id=-1001234"
    params = json.loads(hit["body"])
    telegram_spec("/sendVideo", params)
    assert params["video"] == done["outputs"][0] and params["chat_id"] == -1001234
    assert TOKEN not in relay.log()  # the worker never logs a downstream's URL


def _blocks(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [b for b in body["blocks"] if b["type"] == kind]


def _teams(body: dict[str, Any]) -> dict[str, Any]:
    card: dict[str, Any] = body["attachments"][0]["content"]
    return card


def _widgets(body: dict[str, Any]) -> list[dict[str, Any]]:
    sections = body["cardsV2"][0]["card"]["sections"]
    return [w for s in sections for w in s["widgets"]]


# How each chat format shows an image (as an image) and a sound (a link to listen to).
SHOWS_IMAGE: dict[str, Callable[[dict[str, Any], str], bool]] = {
    "slack": lambda b, url: [i["image_url"] for i in _blocks(b, "image")] == [url],
    "discord": lambda b, url: b["embeds"][0]["image"] == {"url": url},
    "teams": lambda b, url: [i["url"] for i in _teams(b)["body"] if i["type"] == "Image"] == [url],
    "google_chat": lambda b, url: any(
        w.get("image", {}).get("imageUrl") == url for w in _widgets(b)
    ),
    "mattermost": lambda b, url: b["attachments"][0]["image_url"] == url,
}
LINKS_SOUND: dict[str, Callable[[dict[str, Any], str], bool]] = {
    "slack": lambda b, url: (
        not _blocks(b, "image") and _blocks(b, "actions")[0]["elements"][0]["url"] == url
    ),
    "discord": lambda b, url: "image" not in b["embeds"][0] and b["embeds"][0]["url"] == url,
    "teams": lambda b, url: (
        not [i for i in _teams(b)["body"] if i["type"] == "Image"]
        and _teams(b)["actions"] == [{"type": "Action.OpenUrl", "title": "🔊 Listen", "url": url}]
    ),
    "google_chat": lambda b, url: (
        not [w for w in _widgets(b) if "image" in w]
        and {"text": "🔊 Listen", "onClick": {"openLink": {"url": url}}}
        in [x for w in _widgets(b) if "buttonList" in w for x in w["buttonList"]["buttons"]]
    ),
    "mattermost": lambda b, url: (
        "image_url" not in b["attachments"][0] and b["attachments"][0]["title_link"] == url
    ),
}


@pytest.mark.parametrize(
    ("kind", "prompt", "made"),
    [
        ("text_to_image", "a lighthouse format=jpg", "image"),
        ("sound_effect", "rain on a tin roof format=mp3", "audio"),
    ],
    ids=["image", "audio"],
)
def test_chat_shows_an_image_and_links_a_sound(
    make_relay: MakeRelay, sink: Sink, kind: str, prompt: str, made: str
) -> None:
    relay = _chat_relay(make_relay, sink)
    task = relay.submit(kind=kind, model=models_of(kind)[0], promptText=prompt).json()
    done = relay.wait_task(task["id"], settled)
    assert done["state"] == "succeeded"
    [url] = done["outputs"]
    assert url.endswith(".jpg" if made == "image" else ".mp3")
    assert {d["state"] for d in done["deliveries"]} == {"succeeded"}
    shows = SHOWS_IMAGE if made == "image" else LINKS_SOUND
    for fmt, spec in SPECS.items():
        [hit] = sink.accepted(f"/{fmt}")
        body = json.loads(hit["body"])
        spec(body)
        assert shows[fmt](body, url), (fmt, body)
    # Telegram: a photo message for an image, an audio message for an MP3.
    method = "sendPhoto" if made == "image" else "sendAudio"
    [hit] = sink.accepted(f"/tg/bot{TOKEN}/{method}")
    params = json.loads(hit["body"])
    telegram_spec(f"/{method}", params)
    assert params["photo" if made == "image" else "audio"] == url
