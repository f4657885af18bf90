"""The console in a real browser: headless Chromium against `receiver serve` on loopback.

One relay for the module (SQLite, media mirrored from the simulator's real MP4), one
browser. Every wait is on a condition in the page or at the relay, never a fixed sleep.
With RELAY_SCREENSHOTS=1 the task list and a task page are saved to docs/ (the README's
pictures), so that an ordinary run leaves the committed files alone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from receiver.devtools.localserver import BackgroundServer
from tests.browser.conftest import log_in
from tests.browser.layout import AGO, SIZES, broken_phrases, measure
from tests.chromium import missing
from tests.e2e.test_apps import app_key, make_app
from tests.e2e.test_keys import as_key
from tests.harness import (
    ADMIN_TOKEN,
    WAIT_SECONDS,
    Relay,
    Sink,
    image_to_video,
    settled,
    video2video,
    video_to_video,
)

if missing():  # one line for the whole module
    pytest.skip(str(missing()), allow_module_level=True)

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from urllib3.exceptions import ProtocolError

# Under pytest-xdist's `--dist loadgroup` the module stays on one worker, with one relay and
# one browser; under other modes each worker starts its own, and every test still stands alone.
pytestmark = pytest.mark.xdist_group("console-browser")

DOCS = Path(__file__).parent.parent.parent / "docs"
SCREENSHOTS = os.environ.get("RELAY_SCREENSHOTS") == "1"


# On a loaded machine the driver's connection has been dropped as a request went out (the
# request is then asked again), and a page has taken far more than 15 s to come live: the
# bound is the harness's, only a backstop.
# A row the live list drew again is read again, as a dropped connection is.
TRANSIENT = (ProtocolError, ConnectionError, StaleElementReferenceException)


def until(driver: WebDriver, check: Callable[[WebDriver], Any]) -> Any:
    wait = WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.1, ignored_exceptions=TRANSIENT)
    return wait.until(check)


def accept_dialog(driver: WebDriver) -> None:
    until(driver, lambda d: _alert(d)).accept()


def _alert(driver: WebDriver) -> Any:
    try:
        alert = driver.switch_to.alert
        alert.text  # noqa: B018  (raises while there is no dialog)
        return alert
    except Exception:
        return False


def delivery(relay: Relay, task_id: str, downstream: str) -> dict[str, Any]:
    """The task's one delivery to `downstream` ({} while there is none yet)."""
    found = [d for d in relay.task(task_id)["deliveries"] if d["downstream"] == downstream]
    assert len(found) <= 1
    return found[0] if found else {}


def downstream_disabled(relay: Relay, name: str) -> bool:
    listed = relay.api.get("/v1/downstreams").json()["downstreams"]
    return bool(next(d for d in listed if d["name"] == name)["disabled"])


def screenshot(driver: WebDriver, name: str, max_height: int) -> None:
    """The page as tall as its content (up to `max_height`), into docs/."""
    if not SCREENSHOTS:
        return
    height = driver.execute_script("return document.documentElement.scrollHeight;")
    driver.set_window_size(1360, min(max(height, 480), max_height))
    DOCS.mkdir(exist_ok=True)
    driver.save_screenshot(str(DOCS / name))
    driver.set_window_size(1360, 900)


def test_a_wrong_token_is_refused_with_a_message_and_no_session(
    chromium: WebDriver, relay: Relay
) -> None:
    chromium.get(f"{relay.url}/console/login")
    chromium.delete_all_cookies()  # whatever ran before on this browser
    chromium.get(f"{relay.url}/console/tasks")
    until(chromium, lambda d: "/console/login" in d.current_url)
    field = chromium.find_element(By.ID, "token")
    assert field.get_attribute("type") == "password"
    field.send_keys("not-the-admin-token-at-all")
    field.submit()
    error = until(chromium, lambda d: d.find_elements(By.ID, "login-error"))[0]
    assert "not the admin token" in error.text
    assert chromium.get_cookie("relay_console") is None
    assert "not-the-admin-token" not in chromium.current_url  # never in a URL
    failed = [x for x in relay.log_lines() if x.get("event") == "console.login_failed"]
    assert failed and "not-the-admin-token" not in relay.log()


def test_login_sets_a_strict_http_only_session(console: WebDriver, relay: Relay) -> None:
    cookie = console.get_cookie("relay_console")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/console" and ADMIN_TOKEN not in cookie["value"]
    console.get(f"{relay.url}/console/")
    assert console.find_element(By.TAG_NAME, "h1").text == "Overview"
    assert console.find_elements(By.CSS_SELECTOR, "svg.chart")


@pytest.fixture(scope="module")
def finished(chromium: WebDriver, relay: Relay) -> Iterator[str]:
    """A video2video task submitted while the task list is open; its id once it shows there
    as succeeded, without a reload."""
    console = log_in(chromium, relay)
    console.get(f"{relay.url}/console/tasks")
    until(console, lambda d: d.find_element(By.ID, "live").text == "live")
    console.execute_script("window.stillThisPage = true;")
    prompt = "A lighthouse at dusk, waves in slow motion, warm film grain"
    task_id = relay.submit(**video2video(prompt=prompt)).json()["id"]
    row = f"tr#task-{task_id}[data-state='succeeded']"
    until(console, lambda d: d.find_elements(By.CSS_SELECTOR, row))
    assert console.execute_script("return window.stillThisPage === true;")
    yield task_id


def test_a_task_appears_live_on_the_list_after_its_callback(
    finished: str, console: WebDriver, relay: Relay, cdn_sim: Any
) -> None:
    task = relay.task(finished)
    assert [e["source"] for e in task["events"] if e["source"] == "callback"]
    # The live list may draw the row again between finding it and reading it: read it
    # within a wait, which finds it again.
    text = until(console, lambda d: d.find_element(By.ID, f"task-{finished}").text)
    assert "video2video" in text and "lighthouse" in text


def test_the_task_page_plays_the_mirrored_video(
    finished: str, console: WebDriver, relay: Relay, cdn_sim: Any
) -> None:
    # More tasks, so the list looks like a working day in the screenshot.
    cdn_sim.faults(fail_rate=1.0)
    failed = relay.submit(**image_to_video(promptText="Storm clouds over a wheat field")).json()
    relay.wait_task(failed["id"], lambda t: t["state"] == "failed")
    cdn_sim.faults(fail_rate=0.0)
    stopped = relay.submitted(**video_to_video(promptText="A drone shot over pine forests"))
    assert relay.api.delete(f"/v1/tasks/{stopped['id']}").status_code == 200
    for body in (
        image_to_video(promptText="Paper boats drifting down a rainy street, macro lens"),
        video_to_video(promptText="Turn the city timelapse into a watercolour painting"),
        video2video(prompt="Neon signs flicker on in a quiet Tokyo alley at night"),
    ):
        relay.submit(**body)
    console.get(f"{relay.url}/console/tasks")
    until(console, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rows tr[data-state]")) >= 6)
    until(
        console,
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rows tr[data-state='succeeded']")) >= 4,
    )
    screenshot(console, "console-tasks.png", 900)

    console.get(f"{relay.url}/console/tasks/{finished}")
    # The copy may still be on its way: the live stream swaps it in when it is.
    video = until(console, lambda d: d.find_elements(By.CSS_SELECTOR, "video[src*='/media/']"))[0]
    assert "/media/" in (video.get_attribute("poster") or "")
    until(
        console,
        lambda d: d.execute_script("return document.querySelector('video').readyState >= 2;"),
    )
    timeline = console.find_element(By.ID, "timeline").text
    assert "Callback" in timeline and "confirmed by CometAPI" in timeline
    assert re.search(r"Delivery to hook, attempt 1 .*delivered", timeline)
    assert "HTTP 200" in timeline
    raw = console.find_element(By.CSS_SELECTOR, "details.raw pre")
    assert raw.get_attribute("textContent").lstrip().startswith("{")
    screenshot(console, "console-task.png", 1300)


def test_a_dead_letter_is_replayed_from_the_deliveries_page(
    console: WebDriver, relay: Relay, sinks: dict[str, Sink]
) -> None:
    sinks["fragile"].mode(status=500)
    task_id = relay.submit(**image_to_video(promptText="a dead letter")).json()["id"]
    relay.wait_task(task_id, lambda t: delivery(relay, task_id, "fragile").get("state") == "dead")
    dead = delivery(relay, task_id, "fragile")
    assert "500" in str(dead["last_status"])
    sinks["fragile"].mode(status=200)

    console.get(f"{relay.url}/console/deliveries?downstream=fragile")
    row = console.find_element(By.ID, f"delivery-{dead['id']}")
    assert "dead letter" in row.text and "HTTP 500" in row.text
    row.find_element(By.CSS_SELECTOR, "button").click()
    accept_dialog(console)
    until(console, lambda d: "queued again" in d.find_element(By.CLASS_NAME, "notice").text)
    relay.wait_task(
        task_id, lambda t: delivery(relay, task_id, "fragile").get("state") == "succeeded"
    )
    # The row leaves the failures without a reload, once the attempt is in.
    until(console, lambda d: not d.find_elements(By.ID, f"delivery-{dead['id']}"))


def test_a_downstream_is_disabled_and_enabled_from_the_page(
    console: WebDriver, relay: Relay
) -> None:
    console.get(f"{relay.url}/console/deliveries?downstream=hook")
    console.find_element(By.CSS_SELECTOR, "button[value='disable']").click()
    accept_dialog(console)
    until(console, lambda d: "held" in d.find_element(By.CLASS_NAME, "notice").text)
    assert downstream_disabled(relay, "hook")
    assert "disabled" in console.find_element(By.ID, "status-hook").text

    # Without JavaScript's dialog (form.submit() skips it), a confirmation page asks first.
    console.execute_script(
        "document.querySelector(\"form[action$='/downstreams/hook/enable']\").submit();"
    )
    confirm = until(console, lambda d: d.find_elements(By.CSS_SELECTOR, "button.primary"))[0]
    assert "Enable hook?" in console.find_element(By.TAG_NAME, "h1").text
    assert downstream_disabled(relay, "hook")  # asking changed nothing
    confirm.click()
    until(console, lambda d: "enabled" in d.find_element(By.CLASS_NAME, "notice").text)
    assert not downstream_disabled(relay, "hook")


def test_live_updates_resume_after_a_restart_of_the_relay(console: WebDriver, relay: Relay) -> None:
    console.get(f"{relay.url}/console/tasks")
    until(console, lambda d: d.find_element(By.ID, "live").text == "live")
    console.execute_script("window.stillThisPage = true;")
    relay.stop()
    until(console, lambda d: d.find_element(By.ID, "live").text == "reconnecting…")
    relay.start()
    until(console, lambda d: d.find_element(By.ID, "live").text == "live")
    task_id = relay.submit(**image_to_video(promptText="after the restart")).json()["id"]
    until(console, lambda d: d.find_elements(By.ID, f"task-{task_id}"))
    assert console.execute_script("return window.stillThisPage === true;")


@pytest.fixture
def foreign_site(relay: Relay) -> Iterator[BackgroundServer]:
    """A page on another loopback port that posts a form to the console as soon as it loads."""
    target = f"{relay.url}/console/downstreams/hook/disable"

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><title>prize</title><body>"
            f'<form id="f" method="post" action="{target}">'
            '<input type="hidden" name="confirm" value="yes"></form>'
            "<script>document.getElementById('f').submit();</script></body>"
        )

    server = BackgroundServer(Starlette(routes=[Route("/", page)]))
    server.start()
    yield server
    server.stop()


def test_a_cross_site_form_post_is_refused(
    console: WebDriver, relay: Relay, foreign_site: BackgroundServer
) -> None:
    console.get(foreign_site.url)
    until(console, lambda d: d.current_url.startswith(relay.url))
    heading = until(console, lambda d: d.find_elements(By.TAG_NAME, "h1"))[0]
    assert heading.text == "Refused"
    assert not downstream_disabled(relay, "hook")

    # With the session cookie in hand: a foreign Origin, or no CSRF token, is still refused.
    cookies = {"relay_console": console.get_cookie("relay_console")["value"]}
    page = httpx.get(f"{relay.url}/console/deliveries", cookies=cookies)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    target = f"{relay.url}/console/downstreams/hook/disable"
    refused = [
        httpx.post(target, cookies=cookies, data={"confirm": "yes"}),
        httpx.post(
            target,
            cookies=cookies,
            data={"confirm": "yes", "csrf": csrf.group(1)},
            headers={"Origin": foreign_site.url},
        ),
        httpx.post(
            target,
            cookies=cookies,
            data={"confirm": "yes", "csrf": csrf.group(1)},
            headers={"Sec-Fetch-Site": "same-site"},
        ),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert all(r.headers["content-type"].startswith("text/html") for r in refused)
    assert not downstream_disabled(relay, "hook")


def test_a_downstream_is_made_rotated_and_removed_from_the_page(
    console: WebDriver, relay: Relay, sinks: dict[str, Sink]
) -> None:
    sink = sinks["hook"]
    console.get(f"{relay.url}/console/deliveries")
    console.find_element(By.CSS_SELECTOR, "#new-downstream summary").click()
    form = console.find_element(By.CSS_SELECTOR, "#new-downstream form")
    form.find_element(By.NAME, "name").send_keys("from-page")
    form.find_element(By.NAME, "url").send_keys(f"{sink.url}/from-page")
    form.find_element(By.CSS_SELECTOR, "button[value='create']").click()
    first = until(console, lambda d: d.find_elements(By.ID, "secret-value"))[0].text
    assert first.startswith("whsec_")
    assert relay.api.get("/v1/downstreams/from-page").json()["source"] == "api"
    # Shown on the answer to the form only: the page itself never shows it again.
    console.get(f"{relay.url}/console/deliveries")
    assert first not in console.page_source
    # Its row in the table opens its card, with its forms.
    console.find_element(By.CSS_SELECTOR, "#row-from-page a.name").click()
    until(console, lambda d: d.find_elements(By.ID, "downstream-from-page"))
    assert console.current_url.endswith("/console/deliveries?downstream=from-page")

    console.find_element(By.CSS_SELECTOR, "form[action$='/from-page/rotate'] button").click()
    accept_dialog(console)
    second = until(console, lambda d: d.find_elements(By.ID, "secret-value"))[0].text
    assert second.startswith("whsec_") and second != first
    assert relay.api.get("/v1/downstreams/from-page").json()["previous_secret_until"]

    console.find_element(By.CSS_SELECTOR, "form[action$='/from-page/remove'] button").click()
    accept_dialog(console)
    until(console, lambda d: "removed" in d.find_element(By.CLASS_NAME, "notice").text)
    assert relay.api.get("/v1/downstreams/from-page").status_code == 404
    assert not console.find_elements(By.ID, "downstream-from-page")
    assert not console.find_elements(By.ID, "row-from-page")


def test_the_task_page_shows_the_callers_metadata_channels_and_webhook(
    console: WebDriver, relay: Relay, sinks: dict[str, Sink]
) -> None:
    sink = sinks["hook"]
    task = relay.submitted(
        **image_to_video(),
        webhook=f"{sink.url}/mine?token=never-shown",
        metadata={"order_id": "A-17"},
        channels=["shop"],
    )
    # Ended first: a running task's page is redrawn as it changes, and an element read
    # across a redraw is gone (stale) by the time its text is asked for.
    relay.wait_task(task["id"], settled)
    console.get(f"{relay.url}/console/tasks/{task['id']}")
    assert '"order_id": "A-17"' in console.find_element(By.ID, "task-metadata").text
    assert console.find_element(By.ID, "task-channels").text == "shop"
    assert console.find_element(By.ID, "task-webhook").text.startswith(sink.url)
    assert "never-shown" not in console.page_source


# The width of a field's placeholder in its own font, and the room the field gives it.
_PLACEHOLDER_ROOM = """
const field = arguments[0], style = getComputedStyle(field);
const pen = document.createElement('canvas').getContext('2d');
pen.font = style.font;
const room = field.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
const box = field.getBoundingClientRect();
return {text: pen.measureText(field.placeholder).width, room: room,
        right: box.right, viewport: window.innerWidth};
"""


def test_names_and_phrases_stay_whole_and_a_dead_delivery_says_what_died(
    console: WebDriver, relay: Relay, sinks: dict[str, Sink]
) -> None:
    """The tasks, keys, apps and task pages at a phone's and a desktop's width: an app's
    name (`acme-studio`) and "4 s ago" never broken inside, the Since field whole with a
    24-hour placeholder; a dead delivery says which event died, where, after how many tries."""
    make_app(relay, "acme-studio")
    client = as_key(relay, app_key(relay, "acme-studio", "acme-studio-uploads"))
    sinks["fragile"].mode(status=500)
    body = image_to_video(
        promptText="A lighthouse keeper's long night: storm, spray, the lamp turning"
    )
    task_id = client.post("/v1/tasks", json=body).json()["id"]
    relay.wait_task(task_id, lambda t: delivery(relay, task_id, "fragile").get("state") == "dead")
    sinks["fragile"].mode(status=200)
    client.close()
    whole = ["acme-studio", AGO]
    wrong: list[str] = []
    for name, path in (
        ("console-tasks", "/console/tasks"),
        ("console-keys", "/console/keys"),
        ("console-apps", "/console/apps"),
        ("console-task", f"/console/tasks/{task_id}"),
    ):
        console.get(relay.url + path)
        for size in SIZES:
            wrong += measure(console, name, size) + broken_phrases(console, name, size, whole)
            if name == "console-tasks":
                since = console.find_element(By.NAME, "since")
                room = console.execute_script(_PLACEHOLDER_ROOM, since)
                if room["text"] > room["room"] or room["right"] > room["viewport"]:
                    wrong.append(f"Since at {size[0]}px: {room}")
    console.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert not wrong, "\n".join(wrong)

    console.get(f"{relay.url}/console/tasks")
    since = console.find_element(By.NAME, "since")
    assert since.get_attribute("type") == "text"
    assert since.get_attribute("placeholder") == "2025-01-31 14:00"
    since.send_keys("2025-01-31 14:00")
    since.submit()
    until(console, lambda d: "since=2025-01-31" in d.current_url)
    assert console.find_elements(By.ID, f"task-{task_id}")

    console.get(f"{relay.url}/console/tasks/{task_id}")
    dead = delivery(relay, task_id, "fragile")
    row = console.find_element(By.ID, f"delivery-{dead['id']}").text
    died = f"task.succeeded to fragile: dead after {dead['attempts']} attempts"
    said = rf"succeeded \(by (poll|callback)\) · {died}"
    assert re.search(said, row), row
