"""One relay, one simulator, two sinks and one headless Chromium for the whole module.

The browser is Debian's `chromium` driven through its `chromium-driver`, both found at
their fixed paths: Selenium is never left to fetch a browser or a driver of its own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from receiver.devtools.localserver import BackgroundServer
from receiver.devtools.sink import create_sink_app
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

CHROMIUM = os.environ.get("RELAY_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("RELAY_CHROMEDRIVER", "/usr/bin/chromedriver")
SKIP = "no Chromium for the browser tests: apt-get install chromium chromium-driver"
WINDOW = (1360, 900)


def _find(path: str) -> str | None:
    return path if os.access(path, os.X_OK) else shutil.which(Path(path).name)


def missing() -> str | None:
    """Why the browser tests cannot run here, in one line; None when they can."""
    if _find(CHROMIUM) is None or _find(CHROMEDRIVER) is None:
        return SKIP
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed for the browser tests: pip install -e '.[dev]'"
    return None


def start_chromium(**capabilities: Any) -> tuple[Any, str]:
    """Debian's Chromium, headless, driven by its own driver, with a profile of its own (its
    directory is returned for removal); `capabilities` are added (e.g. its network log)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = _find(CHROMIUM), _find(CHROMEDRIVER)
    assert browser is not None and driver_path is not None
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium reach out for anything
    profile = tempfile.mkdtemp(prefix="relay-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--autoplay-policy=no-user-gesture-required",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    # JavaScript dialogs (the confirmations) stay open for the test to answer.
    options.set_capability("unhandledPromptBehavior", "ignore")
    for name, value in capabilities.items():
        options.set_capability(name, value)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(20)
    return driver, profile


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
