"""A share link's page in a real browser, as the app's end user sees it: the app's name,
logo and colour, the prompt only when the link shows it, the state in words and a ticking
estimate, then the video, image or sound with a poster and a download that returns the
file, a failure in safe words, and pages of their own for a link that does not open. No
request of the page leaves 127.0.0.1.

With RELAY_SCREENSHOTS=1 each state is saved to docs/share-*.png."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from receiver.lifecycle.rules.task import failure_message
from receiver.shares.links import ShareSigner
from tests.chromium import missing, start_chromium
from tests.conftest import relay_env
from tests.harness import (
    ADMIN_TOKEN,
    SECRETS,
    SIGNING_SECRET,
    Relay,
    Simulator,
    relay_settings,
    video2video,
    wait_for,
)

if missing():
    pytest.skip(str(missing()), allow_module_level=True)

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.testkit import free_port

pytestmark = pytest.mark.xdist_group("console-browser")

DOCS = Path(__file__).parent.parent.parent / "docs"
SCREENSHOTS = os.environ.get("RELAY_SCREENSHOTS") == "1"
APP = "lumen-studio"
ACCENT = "#0f766e"
LOGO = "data:image/svg+xml," + quote(
    "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 120 32'>"
    f"<circle cx='16' cy='16' r='14' fill='{ACCENT}'/><circle cx='16' cy='16' r='6' fill='white'/>"
    "<rect x='38' y='10' width='76' height='12' rx='6' fill='#94a3b8'/></svg>"
)
PHONE = (390, 844)
DESKTOP = (1100, 800)


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """Chromium with its network log on: every request the page makes is seen."""
    driver, profile = start_chromium(
        **{"goog:loggingPrefs": {"performance": "ALL", "browser": "ALL"}}
    )
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory, cdn_sim: Simulator) -> Iterator[Relay]:
    """`receiver serve` mirroring renders, with one app's look set for its share pages."""
    workdir = tmp_path_factory.mktemp("share-page")
    port = free_port()
    settings = relay_settings(
        f"sqlite:///{workdir / 'relay.db'}",
        f"http://127.0.0.1:{port}",
        cdn_sim.url,
        server={"share_apps": {APP: {"share_logo_url": LOGO, "share_accent": ACCENT}}},
        media={"enabled": True, "dir": str(workdir / "media"), "allow_private_networks": True},
        polling={"callback_grace_seconds": 30},  # video2video tasks end by their callback
    )
    relay = Relay(workdir, settings, relay_env()).start()
    yield relay
    relay.close()
    assert not [s for s in SECRETS if s in relay.log()], "a secret in the relay's log"


@pytest.fixture(scope="module")
def app_key(relay: Relay) -> dict[str, str]:
    made = relay.api.post("/v1/keys", json={"name": APP, "scopes": ["tasks:submit", "tasks:read"]})
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['key']}"}


def _share(relay: Relay, headers: dict[str, str], body: dict[str, Any], **params: Any) -> str:
    task = relay.api.post("/v1/tasks", json=body, headers=headers)
    assert task.status_code in (200, 201, 202), task.text
    made = relay.api.post(f"/v1/tasks/{task.json()['id']}/share", params=params, headers=headers)
    assert made.status_code == 201, made.text
    return str(made.json()["url"])


def _text(driver: WebDriver, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def _state(driver: WebDriver) -> str | None:
    found = driver.find_elements(By.CSS_SELECTOR, "#state[data-state]")
    return found[0].get_attribute("data-state") if found else None


def _only_loopback(driver: WebDriver) -> list[str]:
    """Every URL the browser asked for since the last look; fails on one beyond loopback."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    away = [
        u
        for u in urls
        if urlsplit(u).scheme in ("http", "https", "ws", "wss")
        and urlsplit(u).hostname != "127.0.0.1"
    ]
    assert not away, f"requests beyond 127.0.0.1: {away}"
    # And nothing the page holds was refused by its own CSP (a style, a script, a file).
    refused = [
        e["message"] for e in driver.get_log("browser") if "Content Security" in e["message"]
    ]
    assert not refused, refused
    return urls


def _downloaded(relay: Relay, driver: WebDriver) -> httpx.Response:
    """The download button's file, fetched as the browser would (no credentials)."""
    button = driver.find_element(By.ID, "download")
    assert button.get_attribute("download"), "the button saves the file"
    got = httpx.get(str(button.get_attribute("href")), timeout=30)
    assert got.status_code == 200
    assert got.headers["content-type"].split(";")[0] == button.get_attribute("data-type")
    name = button.get_attribute("download")
    assert got.headers["content-disposition"] == f'attachment; filename="{name}"'
    return got


def _copy(relay: Relay, task_id: str, role: str) -> dict[str, Any]:
    files = relay.task(task_id)["media"]["files"]
    return next(f for f in files if f["role"] == role)


def _task_id(driver: WebDriver) -> str:
    return str(driver.execute_script("return boot.view.id;"))


def emulate(driver: WebDriver, size: tuple[int, int], phone: bool = False) -> None:
    """The viewport as a desktop window or a phone (its width, touch, the viewport meta)."""
    metrics = {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": phone}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


def screenshot(driver: WebDriver, name: str, size: tuple[int, int] = DESKTOP) -> None:
    """The whole page at `size`'s width, into docs/ (RELAY_SCREENSHOTS=1 only)."""
    if not SCREENSHOTS:
        return
    emulate(driver, size, phone=size == PHONE)
    height = driver.execute_script("return document.documentElement.scrollHeight;")
    clip = {"x": 0, "y": 0, "width": size[0], "height": max(height, 200), "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    DOCS.mkdir(exist_ok=True)
    (DOCS / name).write_bytes(base64.b64decode(shot["data"]))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_a_running_task_shows_the_app_the_prompt_and_a_ticking_estimate(
    browser: WebDriver, relay: Relay, app_key: dict[str, str]
) -> None:
    body = {
        "kind": "text_to_video",
        "model": "gen4.5",
        "promptText": "A lighthouse at dusk, waves rolling in queue=0 run=90",
    }
    browser.get(_share(relay, app_key, body, show_prompt="true"))
    assert _text(browser, "app") == APP
    assert browser.find_element(By.ID, "logo").get_attribute("src") == LOGO
    assert "A lighthouse at dusk" in _text(browser, "prompt")
    icon = browser.find_element(By.CSS_SELECTOR, "link[rel=icon]").get_attribute("href")
    assert str(icon).startswith("data:image/svg+xml,")
    wait_for(
        lambda: (
            _state(browser) == "running"
            and browser.find_elements(By.CSS_SELECTOR, "#eta[data-left]")
        )
    )
    assert browser.title.endswith(f"· {APP}")
    assert _text(browser, "title") == "Your video is being made"
    # The progress said once, in one line: how far, then how long is left.
    assert _text(browser, "state").endswith("% done") and "made" not in _text(browser, "state")
    first = browser.find_element(By.ID, "eta").get_attribute("data-left")
    # It ticks between the stream's events: the page counts down on its own.
    wait_for(lambda: browser.find_element(By.ID, "eta").get_attribute("data-left") != first)
    eta = _text(browser, "eta").lower()
    assert eta.startswith("about ") and eta.endswith(" left")
    line = _text(browser, "status")
    assert line.count("done") == 1 and line.count("left") == 1, line
    bar = browser.find_element(By.ID, "bar")
    assert (
        bar.get_attribute("role") == "progressbar"
        and int(bar.get_attribute("aria-valuenow") or 0) > 0
    )
    assert not browser.find_elements(By.ID, "download")
    screenshot(browser, "share-running.png")
    # A phone: the page fits its width, nothing to scroll sideways, the button full width.
    emulate(browser, PHONE, phone=True)
    assert browser.execute_script("return window.innerWidth;") == PHONE[0]
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth;"
    )
    assert browser.execute_script(
        "return getComputedStyle(document.querySelector('main')).borderRadius;"
    ) in ("0px", "0")
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    screenshot(browser, "share-phone.png", PHONE)
    _only_loopback(browser)


def test_a_video_plays_with_its_poster_and_downloads(
    browser: WebDriver, relay: Relay, app_key: dict[str, str]
) -> None:
    browser.get(_share(relay, app_key, video2video(prompt="pixel-art redraw")))
    assert not browser.find_elements(By.ID, "prompt")  # not asked for: not shown
    video = wait_for(
        lambda: browser.find_elements(By.CSS_SELECTOR, "video#render[src*='/media/']"), timeout=60
    )[0]
    wait_for(
        lambda: browser.execute_script("return document.getElementById('render').readyState >= 2;")
    )
    assert "/media/" in str(video.get_attribute("poster"))
    assert browser.execute_script(
        "const p = new Image(); p.src = document.getElementById('render').poster;"
        " return p.decode().then(() => p.naturalWidth > 0);"
    )
    assert _text(browser, "title") == "Your video is ready"
    assert _state(browser) == "succeeded" and _text(browser, "state").startswith("Finished in ")
    assert browser.execute_script("return document.getElementById('fill').style.width") == "100%"
    got = _downloaded(relay, browser)
    video_copy = _copy(relay, _task_id(browser), "video")
    assert hashlib.sha256(got.content).hexdigest() == video_copy["sha256"]
    screenshot(browser, "share-video.png")
    _only_loopback(browser)


def test_an_image_shows_and_downloads(
    browser: WebDriver, relay: Relay, app_key: dict[str, str]
) -> None:
    body = {"kind": "text_to_image", "model": "gen4_image", "promptText": "a red fox format=png"}
    browser.get(_share(relay, app_key, body, show_prompt="true"))
    wait_for(
        lambda: browser.execute_script(
            "const i = document.querySelector(\"img#render[src*='/media/']\");"
            " return !!i && i.complete && i.naturalWidth > 0;"
        ),
        timeout=60,
    )
    assert _text(browser, "title") == "Your image is ready"
    assert _text(browser, "download") == "Download the image"
    got = _downloaded(relay, browser)
    assert got.headers["content-type"] == "image/png"
    assert (
        hashlib.sha256(got.content).hexdigest()
        == _copy(relay, _task_id(browser), "image")["sha256"]
    )
    screenshot(browser, "share-image.png")
    _only_loopback(browser)


# The player as the page first puts it in, before the browser has read a byte of the sound.
WATCH_AUDIO = """
new MutationObserver(() => {
  const a = document.querySelector("audio#render");
  if (a && !window.audioAtFirst) {
    const loading = document.getElementById("sound-loading");
    window.audioAtFirst = {ready: a.readyState, controls: a.controls, hidden: a.hidden,
                           said: loading ? loading.textContent : ""};
  }
}).observe(document, {childList: true, subtree: true});
"""


def test_a_sound_plays_under_its_cover_and_downloads(
    browser: WebDriver, relay: Relay, app_key: dict[str, str]
) -> None:
    body = {
        "kind": "sound_effect",
        "model": "eleven_text_to_sound_v2",
        "promptText": "rain on a tin roof format=mp3",
    }
    url = _share(relay, app_key, body)
    add = "Page.addScriptToEvaluateOnNewDocument"
    watch = browser.execute_cdp_cmd(add, {"source": WATCH_AUDIO})
    try:
        browser.get(url)
        first = wait_for(lambda: browser.execute_script("return window.audioAtFirst || null;"))
    finally:
        browser.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", watch)
    # No "0:00 / 0:00" before its length is known: no controls yet, a line in their place.
    assert first == {"ready": 0, "controls": False, "hidden": True, "said": "Loading the sound…"}
    duration = wait_for(
        lambda: browser.execute_script(
            "const a = document.querySelector(\"audio#render[src*='/media/']\");"
            " return !!a && a.readyState >= 1 && a.duration > 0 ? a.duration : null;"
        ),
        timeout=60,
    )
    assert 0.4 < duration < 0.6  # the simulator's half-second sounds
    player = browser.find_element(By.ID, "render")
    assert player.get_attribute("controls") is not None and player.is_displayed()
    assert not browser.find_elements(By.ID, "sound-loading")
    # The sound's poster: the app's logo on its colour.
    cover = browser.find_element(By.CSS_SELECTOR, "#result .cover img")
    assert cover.get_attribute("src") == LOGO
    assert _text(browser, "title") == "Your sound is ready"
    got = _downloaded(relay, browser)
    assert got.headers["content-type"] == "audio/mpeg"
    assert (
        hashlib.sha256(got.content).hexdigest()
        == _copy(relay, _task_id(browser), "audio")["sha256"]
    )
    screenshot(browser, "share-audio.png")
    _only_loopback(browser)


def test_a_failed_task_says_so_in_safe_words(
    browser: WebDriver, relay: Relay, app_key: dict[str, str]
) -> None:
    raw = "Internal error while rendering the video"
    body = {"kind": "text_to_image", "model": "gen4_image", "promptText": f"a cat FAIL:{raw}"}
    url = _share(relay, app_key, body)
    browser.get(url)
    wait_for(lambda: _state(browser) == "failed")
    failure = wait_for(lambda: browser.find_element(By.ID, "failure").text)
    assert failure == failure_message("INTERNAL")
    assert _text(browser, "title") == "Your image could not be made"
    assert raw not in browser.page_source
    assert not browser.find_elements(By.ID, "download")
    assert not browser.find_element(By.ID, "progress").is_displayed()
    # The JSON a browser app reads says the same, never CometAPI's words.
    view = relay.anon.get(urlsplit(url).path + "/task").json()
    assert view["error"] == failure_message("INTERNAL") and raw not in json.dumps(view)
    screenshot(browser, "share-failed.png")
    _only_loopback(browser)


def test_links_that_do_not_open_get_pages_of_their_own(
    browser: WebDriver, relay: Relay, app_key: dict[str, str]
) -> None:
    url = _share(relay, app_key, video2video())
    task_id = relay.anon.get(urlsplit(url).path + "/task").json()["id"]
    signer = ShareSigner([SIGNING_SECRET], ADMIN_TOKEN)
    expired = f"{relay.url}/share/" + signer.token_for(task_id, "key", time.time() - 60)
    forged = url[:-6] + ("AAAAAA" if not url.endswith("AAAAAA") else "BBBBBB")
    for link, status, heading, why in (
        (expired, 410, "This link has expired", "expired"),
        (forged, 404, "This link does not work", "forged"),
    ):
        answer = httpx.get(link)
        assert answer.status_code == status and answer.headers["content-type"].startswith(
            "text/html"
        )
        assert "default-src 'none'" in answer.headers["content-security-policy"]
        browser.get(link)
        assert _text(browser, "heading") == heading
        assert browser.find_element(By.ID, "closed").get_attribute("data-why") == why
        assert browser.title == heading
        screenshot(browser, f"share-{why}.png")
    _only_loopback(browser)


def test_a_page_left_open_says_when_its_link_is_withdrawn(browser: WebDriver, relay: Relay) -> None:
    made = relay.api.post(
        "/v1/keys", json={"name": "short-lived", "scopes": ["tasks:submit", "tasks:read"]}
    )
    headers = {"Authorization": f"Bearer {made.json()['key']}"}
    body = {"kind": "text_to_video", "model": "gen4.5", "promptText": "clouds queue=0 run=90"}
    url = _share(relay, headers, body)
    browser.get(url)
    wait_for(lambda: _state(browser) == "running")
    assert not browser.find_elements(By.ID, "app") or _text(browser, "app") == "short-lived"
    assert relay.api.delete("/v1/keys/short-lived").status_code == 200
    heading = wait_for(lambda: browser.find_elements(By.ID, "heading"))[0]
    assert heading.text == "This link was withdrawn"
    assert httpx.get(url).status_code == 410
    screenshot(browser, "share-withdrawn.png")
    _only_loopback(browser)
