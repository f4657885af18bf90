"""The console's API keys page in a real browser: a key made from the form is shown once,
then listed without it, and revoked with the page's button and its confirmation dialog."""

from __future__ import annotations

import httpx
import pytest

from tests.chromium import missing
from tests.harness import Relay

if missing():
    pytest.skip(str(missing()), allow_module_level=True)

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.test_console import accept_dialog, until

pytestmark = pytest.mark.xdist_group("console-browser-keys")


def test_a_key_is_made_shown_once_and_revoked_from_the_page(
    console: WebDriver, relay: Relay
) -> None:
    console.get(f"{relay.url}/console/keys")
    form = console.find_element(By.CSS_SELECTOR, "#new-key form")
    if not form.is_displayed():
        console.find_element(By.CSS_SELECTOR, "#new-key summary").click()
    form.find_element(By.NAME, "name").send_keys("browser-app")
    for scope in ("tasks:submit", "tasks:read"):
        form.find_element(By.CSS_SELECTOR, f"input[name='scope.{scope}']").click()
    form.find_element(By.NAME, "max_queued").send_keys("4")
    form.find_element(By.CSS_SELECTOR, "button[value='create']").click()

    key = until(console, lambda d: d.find_elements(By.ID, "key-value"))[0].text
    assert key.startswith("rr_")
    assert "will not be shown again" in console.find_element(By.ID, "key-once").text
    (made,) = [k for k in relay.api.get("/v1/keys").json()["keys"] if k["name"] == "browser-app"]
    assert made["scopes"] == ["tasks:submit", "tasks:read"] and made["max_queued"] == 4
    bearer = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{relay.url}/v1/tasks", headers=bearer).status_code == 200

    # The page itself never shows the key again.
    console.get(f"{relay.url}/console/keys")
    row = console.find_element(By.ID, "key-browser-app")
    assert "tasks:read" in row.text and "4" in row.text
    assert key not in console.page_source

    row.find_element(By.CSS_SELECTOR, "button[value='revoke']").click()
    accept_dialog(console)
    until(console, lambda d: "Key revoked" in d.find_element(By.CLASS_NAME, "notice").text)
    assert not console.find_elements(By.ID, "key-browser-app")
    assert httpx.get(f"{relay.url}/v1/tasks", headers=bearer).status_code == 401
