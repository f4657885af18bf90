"""An app with a hundred endpoints in the portal, in a real browser: its endpoints a table
(fifty a page, a link to the next), searched by name, each row a small card of its own on a
phone; each endpoint a page of its own with its settings and its test event. A module of its
own: its hundred endpoints would crowd the other browser tests' pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.layout import PHONE, SIZES, measure
from tests.chromium import missing
from tests.e2e.test_apps import app_key, make_app
from tests.e2e.test_keys import as_key
from tests.harness import Relay, Sink

if missing():
    pytest.skip(str(missing()), allow_module_level=True)

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.test_console import until

pytestmark = pytest.mark.xdist_group("portal-endpoints-browser")
SCOPES = ["downstreams", "tasks:submit", "tasks:read"]
MANY = 100
PAGE = 50


def _make(client: Any, sinks: dict[str, Sink], first: int, last: int) -> None:
    for n in range(first, last):
        endpoint = {"name": f"hook-{n:03d}", "url": f"{sinks['hook'].url}/hook-{n:03d}"}
        made = client.post("/v1/downstreams", json=endpoint)
        assert made.status_code == 201, made.text


@pytest.fixture(scope="module")
def many(relay: Relay) -> Iterator[Any]:
    """An app's key, for an app with no endpoint yet."""
    make_app(relay, "many")
    client = as_key(relay, app_key(relay, "many", "many-key", SCOPES))
    yield client
    client.close()


def _open(driver: WebDriver, client: Any, path: str = "") -> None:
    url = str(client.post("/v1/portal-links", json={}).json()["url"])
    driver.get(url)
    until(driver, lambda d: d.find_elements(By.ID, "app-name"))
    if path:
        driver.get(driver.current_url.split("/portal/")[0] + "/portal" + path)


def _height(driver: WebDriver, width: int) -> int:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
    )
    return int(driver.execute_script("return document.documentElement.scrollHeight;"))


def _rows(driver: WebDriver) -> list[str]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#endpoints tbody tr[data-name]")
    return [str(r.get_attribute("data-name")) for r in rows]


def test_a_hundred_endpoints_are_a_table_and_each_a_page(
    chromium: WebDriver, relay: Relay, sinks: dict[str, Sink], many: Any
):
    driver = chromium
    _make(many, sinks, 0, 10)
    _open(driver, many)
    ten = _height(driver, 1280)
    _make(many, sinks, 10, MANY)
    driver.refresh()
    hundred = _height(driver, 1280)
    print(f"portal endpoints page at 1280 px: 10 endpoints {ten} px, {MANY}: {hundred} px")

    # Fifty rows, by name, then a link to the next fifty.
    wrong: list[str] = []
    for size in SIZES:
        wrong.extend(measure(driver, "portal-endpoints-many", size))
    assert not wrong, "\n".join(wrong)
    assert _rows(driver) == [f"hook-{n:03d}" for n in range(PAGE)]
    assert hundred < 6000  # a page of rows, not of cards
    row = driver.find_element(By.CSS_SELECTOR, "#endpoints tr[data-name='hook-000']")
    assert row.find_element(By.CSS_SELECTOR, ".downstream-health").text == "no traffic yet"
    assert row.find_element(By.CSS_SELECTOR, "td.kind").text == "webhook"
    driver.find_element(By.ID, "next").click()
    until(driver, lambda d: _rows(d) and _rows(d)[0] == f"hook-{PAGE:03d}")
    assert _rows(driver) == [f"hook-{n:03d}" for n in range(PAGE, MANY)]
    assert not driver.find_elements(By.ID, "next")

    # A phone: each row a card, the page no wider than the screen.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 1, "mobile": False},
    )
    width = driver.execute_script("return document.documentElement.scrollWidth;")
    assert width <= PHONE[0]
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    # Searched by name, with a GET form: its words kept in the box.
    search = driver.find_element(By.CSS_SELECTOR, "form#search input[name=q]")
    search.clear()
    search.send_keys("hook-07")
    search.submit()
    until(driver, lambda d: "q=hook-07" in d.current_url)
    assert _rows(driver) == [f"hook-07{n}" for n in range(10)]
    assert driver.find_element(By.CSS_SELECTOR, "form#search input[name=q]").get_attribute(
        "value"
    ) == ("hook-07")
    for size in SIZES:
        assert not measure(driver, "portal-endpoints-search", size, keep=False)

    # Its name opens its page: its settings, its test event, its newest deliveries.
    driver.find_element(By.CSS_SELECTOR, "#endpoints tr[data-name='hook-073'] a.name").click()
    until(driver, lambda d: d.find_elements(By.ID, "endpoint-hook-073"))
    assert driver.current_url.endswith("/portal/endpoints/hook-073")
    page = driver.find_element(By.ID, "endpoint-hook-073")
    assert page.find_element(By.CSS_SELECTOR, "details.settings")
    assert page.find_element(By.CSS_SELECTOR, "form.edit input[name=channels]")
    test = page.find_element(By.CSS_SELECTOR, "form.test-event")
    assert test.get_attribute("action").endswith("/portal/endpoints/hook-073/test")
    link = driver.find_element(By.ID, "all-deliveries").get_attribute("href")
    assert link.endswith("/portal/deliveries?endpoint=hook-073")
    wrong = []
    for size in SIZES:
        wrong.extend(measure(driver, "portal-endpoint", size))
    assert not wrong, "\n".join(wrong)

    # A test event sent from its page comes back to its page.
    test.find_element(By.CSS_SELECTOR, "button").click()
    until(driver, lambda d: d.find_elements(By.ID, "tested"))
    assert driver.find_element(By.ID, "endpoint-hook-073")
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
