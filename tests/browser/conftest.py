"""One relay, one simulator, two sinks and one headless Chromium (tests/chromium.py) for the
whole module."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from receiver.devtools.localserver import BackgroundServer
from receiver.devtools.sink import create_sink_app
from tests.chromium import start_chromium
from tests.conftest import relay_env, webhook
from tests.harness import (
    ADMIN_TOKEN,
    SECRETS,
    Relay,
    Simulator,
    Sink,
    relay_settings,
    wait_for,
)
from tests.testkit import free_port


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    driver, profile = start_chromium()
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def cdn_sim() -> Iterator[Simulator]:
    sim = Simulator.serve(seed=5)
    yield sim
    sim.close()


@pytest.fixture(scope="module")
def sinks() -> Iterator[dict[str, Sink]]:
    made = {}
    for name in ("hook", "fragile"):
        server = BackgroundServer(create_sink_app())
        server.start()
        made[name] = Sink(server)
    yield made
    for sink in made.values():
        sink.close()


@pytest.fixture(scope="module")
def relay(
    tmp_path_factory: pytest.TempPathFactory, cdn_sim: Simulator, sinks: dict[str, Sink]
) -> Iterator[Relay]:
    """`receiver serve` on SQLite, mirroring renders, with a good and a fragile downstream."""
    workdir = tmp_path_factory.mktemp("console")
    port = free_port()
    settings = relay_settings(
        f"sqlite:///{workdir / 'relay.db'}",
        f"http://127.0.0.1:{port}",
        cdn_sim.url,
        downstream=[webhook(sinks["hook"]), webhook(sinks["fragile"], name="fragile")],
        media={"enabled": True, "dir": str(workdir / "media"), "allow_private_networks": True},
        polling={"callback_grace_seconds": 30},  # video2video tasks end by their callback
    )
    relay = Relay(workdir, settings, relay_env()).start()
    yield relay
    relay.close()
    log = relay.log()
    assert not [s for s in SECRETS if s in log], "a secret in the relay's log"


def log_in(driver: Any, relay: Relay) -> Any:
    """The browser, logged in to the relay's console (once: the session lasts)."""
    from selenium.webdriver.common.by import By

    if driver.get_cookie("relay_console") is None or not driver.current_url.startswith(relay.url):
        driver.get(f"{relay.url}/console/login")
        field = driver.find_element(By.ID, "token")
        field.send_keys(ADMIN_TOKEN)
        field.submit()
        wait_for(lambda: driver.get_cookie("relay_console"))
    return driver


@pytest.fixture
def console(chromium: Any, relay: Relay) -> Any:
    return log_in(chromium, relay)
