"""Debian's `chromium` driven through its `chromium-driver`, both found at their fixed
paths: Selenium is never left to fetch a browser or a driver of its own. Used by the browser
tests (tests/browser/conftest.py) and bench/dashboard_shot.py's picture."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

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


def start_chromium(
    window: tuple[int, int] = WINDOW, flags: tuple[str, ...] = (), **capabilities: Any
) -> tuple[Any, str]:
    """Debian's Chromium, headless, driven by its own driver, with a profile of its own (its
    directory is returned for removal), a `window` of that size; `flags` and `capabilities`
    are added (e.g. its network log)."""
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
        f"--window-size={window[0]},{window[1]}",
        f"--user-data-dir={profile}",
        *flags,
    ):
        options.add_argument(flag)
    # JavaScript dialogs (the confirmations) stay open for the test to answer.
    options.set_capability("unhandledPromptBehavior", "ignore")
    for name, value in capabilities.items():
        options.set_capability(name, value)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(20)
    return driver, profile
