"""The console's apps page and a downstream's edit forms in a real browser: an app made, a
key of it made and rotated (each shown once), a portal link opened; in the portal an
endpoint made with a filter, a header and a bearer token, then changed from its edit form
(a bad filter shown in words with a caret under its place, the throttle set), its secrets
kept; a real delivery then carries them, and the console's edit form of it previews that
delivery's event by default."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.layout import SIZES, measure
from tests.chromium import missing
from tests.harness import Relay, Sink, image_to_video, wait_for

if missing():
    pytest.skip(str(missing()), allow_module_level=True)

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.test_console import accept_dialog, until

pytestmark = pytest.mark.xdist_group("console-browser-apps")

TOKEN = "bearer_" + "6f5e4d3c2b1a0f9e8d7c"
API_KEY = "apikey_" + "1a2b3c4d5e6f7a8b9c0d"


def _open(driver: WebDriver, css: str) -> None:
    """The <details> around `css` opened, when it is not."""
    element = driver.find_element(By.CSS_SELECTOR, css)
    if not element.is_displayed():
        driver.execute_script("arguments[0].closest('details').open = true;", element)


def _status(panel: Any) -> tuple[str | None, str]:
    if panel.get_attribute("data-busy"):
        return None, ""
    return panel.get_attribute("data-state"), panel.find_element(
        By.CLASS_NAME, "preview-status"
    ).text


def test_an_apps_keys_portal_and_endpoint_settings_from_the_pages(
    console: WebDriver, relay: Relay, sinks: dict[str, Sink]
) -> None:
    console.get(f"{relay.url}/console/apps")
    _open(console, "#new-app input[name='name']")
    new_app = console.find_element(By.CSS_SELECTOR, "#new-app form")
    new_app.find_element(By.NAME, "name").send_keys("acme")
    new_app.find_element(By.NAME, "max_queued").send_keys("9")
    new_app.find_element(By.CSS_SELECTOR, "button[value='create']").click()
    card = until(console, lambda d: d.find_elements(By.ID, "app-acme"))[0]
    assert "9" in card.find_element(By.ID, "limits-acme").text

    _open(console, "#app-acme form[action$='/keys'] input[name='name']")
    form = console.find_element(By.CSS_SELECTOR, "#app-acme form[action$='/keys']")
    form.find_element(By.NAME, "name").send_keys("acme-1")
    for scope in ("tasks:submit", "downstreams"):
        form.find_element(By.CSS_SELECTOR, f"input[name='scope.{scope}']").click()
    form.find_element(By.CSS_SELECTOR, "button[value='create-key']").click()
    first = until(console, lambda d: d.find_elements(By.ID, "key-value"))[0].text
    assert first.startswith("rr_")

    console.get(f"{relay.url}/console/apps")
    assert first not in console.page_source
    key_row = console.find_element(By.CSS_SELECTOR, "#app-acme li[data-key='acme-1']")
    key_row.find_element(By.CSS_SELECTOR, "button[value='rotate']").click()
    accept_dialog(console)
    until(console, lambda d: "acme-2" in d.find_element(By.ID, "key-once").text)
    key = console.find_element(By.ID, "key-value").text
    assert key.startswith("rr_") and key != first
    (live,) = relay.api.get("/v1/apps/acme/keys").json()["keys"]
    assert (live["name"], live["scopes"]) == ("acme-2", ["tasks:submit", "downstreams"])
    # It fits a phone and a desktop, its forms open (the desktop's size last: it stays).
    _open(console, "#app-acme form[action$='/keys'] input[name='name']")
    assert [w for size in SIZES for w in measure(console, "apps-forms", size, False)] == []

    console.find_element(By.CSS_SELECTOR, "#app-acme button[value='portal-link']").click()
    link = until(console, lambda d: d.find_elements(By.ID, "portal-link-value"))[0].text
    console.get(link)
    until(console, lambda d: d.find_elements(By.ID, "new-downstream"))

    # In the portal: an endpoint with a filter, a header and a bearer token.
    _open(console, "#new-downstream input[name='name']")
    new = console.find_element(By.CSS_SELECTOR, "#new-downstream form")
    new.find_element(By.NAME, "name").send_keys("crm")
    new.find_element(By.NAME, "url").send_keys(f"{sinks['hook'].url}/crm")
    new.find_element(By.NAME, "filter").send_keys('event.data.state == "failed"')
    new.find_element(By.NAME, "headers").send_keys(f"X-Api-Key: {API_KEY}")
    _open(console, "#new-downstream select[name='auth_type']")
    new.find_element(By.CSS_SELECTOR, "select[name='auth_type'] option[value='bearer']").click()
    new.find_element(By.NAME, "auth_token").send_keys(TOKEN)
    new.find_element(By.CSS_SELECTOR, "button[value='create']").click()
    until(console, lambda d: d.find_elements(By.ID, "secret-value"))

    endpoint = console.find_element(By.ID, "endpoint-crm")
    _open(console, "#endpoint-crm form.settings textarea[name='filter']")
    edit = endpoint.find_element(By.CSS_SELECTOR, "form.settings")
    assert "X-Api-Key: ***" in endpoint.text and API_KEY not in console.page_source
    assert TOKEN not in console.page_source
    panel = edit.find_element(By.CLASS_NAME, "preview")
    filter_field = edit.find_element(By.NAME, "filter")
    filter_field.clear()
    filter_field.send_keys("event.data.state ==")
    until(console, lambda d: _status(panel)[0] == "failed" and "at 1:20: " in _status(panel)[1])
    assert "where a value should follow" in _status(panel)[1]
    caret = panel.find_element(By.CLASS_NAME, "preview-caret").text
    assert caret.splitlines()[-2:] == ["event.data.state ==", " " * 19 + "^"]
    filter_field.clear()
    filter_field.send_keys('event.data.kind == "image_to_video"')
    until(console, lambda d: _status(panel)[0] == "matched")
    edit.find_element(By.NAME, "max_per_second").send_keys("3")
    edit.find_element(By.CSS_SELECTOR, "button[value='edit']").click()
    until(console, lambda d: "Endpoint changed" in d.page_source)

    shown = relay.api.get(f"/v1/downstreams/{_kept(relay, 'acme', 'crm')}").json()
    assert shown["filter"] == 'event.data.kind == "image_to_video"'
    assert shown["max_per_second"] == 3
    assert shown["headers"] == {"X-Api-Key": "***"}
    assert shown["auth"] == {"type": "bearer", "token": "***"}

    # Its secrets were kept through the change: a real delivery carries both.
    submitted = relay.api.post("/v1/tasks", json=image_to_video(), headers=_bearer(key))
    assert submitted.status_code == 202, submitted.text
    [hit] = wait_for(lambda: sinks["hook"].accepted("/crm") or None)
    assert hit["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert hit["headers"]["x-api-key"] == API_KEY

    # The console's edit form of it previews that delivery's event by default.
    kept = _kept(relay, "acme", "crm")
    console.get(f"{relay.url}/console/deliveries?downstream={kept}")  # its card
    _open(console, f"[id='downstream-{kept}'] form.settings textarea[name='filter']")
    panel = console.find_element(By.CSS_SELECTOR, f"[id='downstream-{kept}'] .preview")
    until(console, lambda d: panel.get_attribute("data-source") == "downstream")
    assert _status(panel)[0] == "matched"
    assert submitted.json()["id"] in panel.find_element(By.CLASS_NAME, "preview-source").text
    # A downstream's settings, open, fit a phone too.
    _open(console, f"[id='downstream-{kept}'] form.settings select[name='auth_type']")
    assert [w for size in SIZES for w in measure(console, "console-settings", size, False)] == []


def _kept(relay: Relay, app: str, name: str) -> str:
    """The name an app's downstream is kept under, as the console's table holds it (the
    API names it `APP/NAME`)."""
    page = relay.console().get("/console/deliveries", params={"q": f"{app}/{name}"})
    names = re.findall(r'<tr id="row-[^"]*" data-name="([^"]+)"', page.text)
    (found,) = [n for n in names if n.endswith(f".{name}") and n.startswith("app_")]
    return found


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
