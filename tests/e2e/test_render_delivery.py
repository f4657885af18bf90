"""Every chat format delivered by the real worker, on loopback: each body passes its
platform's stand-in, and Telegram's goes to the Bot API method after the token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from receiver.devtools.localserver import BackgroundServer
from receiver.devtools.simulator import SimulatorConfig, create_simulator_app
from tests.conftest import MakeRelay
from tests.harness import API_KEY, Simulator, Sink, settled, video2video
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


def test_each_chat_format_is_delivered_in_its_platforms_shape(
    make_relay: MakeRelay, sink: Sink
) -> None:
    downstreams = [
        {"name": fmt, "url": f"{sink.url}/{fmt}", "format": fmt, "timeout": 2.0} for fmt in SPECS
    ]
    downstreams.append(
        {"name": "telegram", "url_env": "TELEGRAM_BOT_URL", "format": "telegram", "timeout": 2.0}
    )
    bot_url = f"{sink.url}/tg/bot{TOKEN}?chat_id=-1001234"
    relay = make_relay(downstreams, env={"TELEGRAM_BOT_URL": bot_url})
    task = relay.submit(**video2video()).json()
    done = relay.wait_task(task["id"], settled, timeout=30)
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
