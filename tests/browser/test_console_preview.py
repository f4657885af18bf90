"""The new-downstream form's live preview in a real browser: a filter and a transform typed
into the console's form, the preview beside them following (matched, not matched, the
shaped body, a header's value masked), a bad expression shown with its position; then the
form sent, and the downstream made with its filter, as the API describes it. Nothing the
page loads is refused by the console's CSP (its scripts are the relay's own files)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.layout import PHONE, emulate, measure
from tests.browser.test_console import screenshot, until
from tests.chromium import missing, start_chromium
from tests.harness import Relay, Sink

if missing():
    pytest.skip(str(missing()), allow_module_level=True)

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

pytestmark = pytest.mark.xdist_group("console-preview-browser")

KIND = 'event.data.kind == "image_to_video"'
TRANSFORM = '{"body": {"fields": {"Task": event.data.task_id}}, "path": "/rows"}'
API_KEY = "airtable_" + "5a4b3c2d1e0f9a8b7c6d"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """The module's browser, keeping its console log (to find any CSP refusal)."""
    driver, profile = start_chromium(**{"goog:loggingPrefs": {"browser": "ALL"}})
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


# Where the caret's `^` is drawn: inside its box's visible part, and on the screen.
_CARET_IN_SIGHT = """
const box = document.querySelector('#preview .preview-caret');
const text = box.firstChild, at = text ? text.data.lastIndexOf('^') : -1;
if (at < 0) return {caret: false};
const range = document.createRange();
range.setStart(text, at); range.setEnd(text, at + 1);
const r = range.getBoundingClientRect(), b = box.getBoundingClientRect();
return {caret: true, inBox: r.left >= b.left - 1 && r.right <= b.right + 1,
        onScreen: r.left >= 0 && r.right <= window.innerWidth, at: r.left, box: [b.left, b.right]};
"""


def _status(driver: WebDriver) -> tuple[str | None, str]:
    panel = driver.find_element(By.ID, "preview")
    if panel.get_attribute("data-busy"):
        return None, ""
    return panel.get_attribute("data-state"), driver.find_element(By.ID, "preview-status").text


def _event(driver: WebDriver) -> str | None:
    return driver.find_element(By.ID, "preview").get_attribute("data-event")


def _shown(driver: WebDriver) -> str:
    return str(driver.find_element(By.ID, "preview-request").text)


def _retype(field: Any, text: str) -> None:
    field.clear()
    field.send_keys(text)


def test_the_preview_follows_the_typing_and_the_form_makes_the_downstream(
    console: WebDriver, relay: Relay, sinks: dict[str, Sink]
) -> None:
    console.get(f"{relay.url}/console/deliveries")
    console.find_element(By.CSS_SELECTOR, "#new-downstream summary").click()
    form = console.find_element(By.CSS_SELECTOR, "#new-downstream form")
    assert console.find_element(By.ID, "preview").is_displayed()  # the script showed it
    form.find_element(By.NAME, "name").send_keys("rows")
    form.find_element(By.NAME, "url").send_keys(f"{sinks['hook'].url}/rows")
    filter_field = form.find_element(By.NAME, "filter")
    transform_field = form.find_element(By.NAME, "transform")

    # No real event yet: the relay's test event, said to be an example; then an example
    # picked (task.succeeded), an image_to_video's: matched, the event as body.
    filter_field.send_keys(KIND)
    until(console, lambda d: _status(d)[0] is not None and _event(d) == "relay.test")
    assert console.find_element(By.ID, "preview").get_attribute("data-source") == "example"
    form.find_element(By.CSS_SELECTOR, "select[name='type'] option[value='task.succeeded']").click()
    until(console, lambda d: _status(d)[0] == "matched" and _event(d) == "task.succeeded")
    assert _shown(console).startswith("POST (its URL)\n")
    assert '"type": "task.succeeded"' in _shown(console)

    transform_field.send_keys(TRANSFORM)
    until(console, lambda d: '"Task": "tsk_example"' in _shown(d))
    assert _shown(console).startswith("POST /rows")
    screenshot(console, "console-preview.png", 1400)

    _retype(filter_field, 'event.data.kind == "text_to_image"')
    until(console, lambda d: _status(d)[0] == "refused")
    assert _status(console)[1].startswith("Not matched")

    _retype(filter_field, "event.data +")
    until(console, lambda d: _status(d)[0] == "failed" and "at 1:13: " in _status(d)[1])
    assert "the expression ends after `+`, where a value should follow" in _status(console)[1]
    assert not console.find_element(By.ID, "preview-request").is_displayed()

    # On a phone, a mistake past the 40th column: the caret under it stays in sight.
    emulate(console, PHONE)
    long = 'event.data.kind == "image_to_video" && event.data.state +'
    _retype(filter_field, long)
    until(
        console, lambda d: _status(d)[0] == "failed" and f"at 1:{len(long) + 1}: " in _status(d)[1]
    )
    seen = console.execute_script(_CARET_IN_SIGHT)
    assert seen["caret"] and seen["inBox"] and seen["onScreen"], seen
    assert not measure(console, "console-preview", PHONE, False)
    console.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    _retype(filter_field, KIND)
    form.find_element(By.NAME, "headers").send_keys(f"Authorization: Bearer {API_KEY}")
    until(console, lambda d: "Authorization: ***" in _shown(d))
    assert _status(console)[0] == "matched" and API_KEY not in _shown(console)
    # Another example event: a failure of the same kind.
    form.find_element(By.CSS_SELECTOR, "select[name='type'] option[value='task.failed']").click()
    until(console, lambda d: _event(d) == "task.failed" and _status(d)[0] == "matched")

    form.find_element(By.CSS_SELECTOR, "button[value='create']").click()
    until(console, lambda d: d.find_elements(By.ID, "secret-value"))
    made = relay.api.get("/v1/downstreams/rows").json()
    assert made["filter"] == KIND and made["transform"] == TRANSFORM
    assert made["headers"] == {"Authorization": "***"}
    assert API_KEY not in console.page_source

    refused = [
        e["message"] for e in console.get_log("browser") if "Content Security" in e["message"]
    ]
    assert not refused, refused
