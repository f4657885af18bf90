"""The console with kinds that make images and sounds: the submit form takes every kind of
the table with its other fields as JSON, and a task's page shows an image loaded and an
audio player that knows its sound, for each format Runway's routes return."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from receiver.lifecycle.rules.task import KIND_NAMES
from tests.chromium import missing
from tests.harness import Relay, wait_for

if missing():  # one line for the whole module
    pytest.skip(str(missing()), allow_module_level=True)

TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "webp": "image/webp",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "ogg": "audio/ogg",
}
IMAGE_LOADED = (
    "const i = document.querySelector(\"#media img[src*='/media/']\");"
    " return !!i && i.complete && i.naturalWidth > 0;"
)
# HAVE_METADATA (1) or more: the browser read the sound and knows how long it is.
AUDIO_READ = (
    "const a = document.querySelector(\"#media audio[src*='/media/']\");"
    " return !!a && a.readyState >= 1 && a.duration > 0 ? a.duration : null;"
)


def until(driver: WebDriver, check: Callable[[WebDriver], Any]) -> Any:
    return wait_for(lambda: check(driver), interval=0.1)


def _task_page(console: WebDriver, relay: Relay, task_id: str) -> None:
    relay.wait_task(task_id, lambda t: (t["media"] or {}).get("status") == "mirrored")
    console.get(f"{relay.url}/console/tasks/{task_id}")


def test_the_form_offers_every_kind_and_submits_an_image_task(
    console: WebDriver, relay: Relay
) -> None:
    console.get(f"{relay.url}/console/tasks")
    console.find_element(By.CSS_SELECTOR, "details.submit summary").click()
    kind = Select(console.find_element(By.ID, "f-kind"))
    assert sorted(o.get_attribute("value") for o in kind.options) == sorted(KIND_NAMES)
    groups = console.find_elements(By.CSS_SELECTOR, "#f-kind optgroup")
    assert [g.get_attribute("label") for g in groups] == [
        "makes video",
        "makes image",
        "makes audio",
    ]
    kind.select_by_value("text_to_image")
    console.find_element(By.ID, "f-prompt").send_keys("a lighthouse format=webp")
    console.find_element(By.ID, "f-model").send_keys("gen4_image")
    console.find_element(By.ID, "f-options").send_keys('{"ratio": "1:1", "style": {"x": 1}}')
    console.find_element(By.CSS_SELECTOR, ".submit-form button[type=submit]").click()
    until(console, lambda d: "done=submitted" in d.current_url)
    task_id = console.current_url.split("/tasks/")[1].split("?")[0]
    assert relay.task(task_id)["request"] == {
        "ratio": "1:1",
        "style": {"x": 1},
        "promptText": "a lighthouse format=webp",
        "model": "gen4_image",
    }
    # The copy may still be on its way: the live stream swaps it in when it is.
    until(console, lambda d: d.execute_script(IMAGE_LOADED))


def test_the_form_keeps_what_was_typed_and_says_what_does_not_fit(
    console: WebDriver, relay: Relay
) -> None:
    console.get(f"{relay.url}/console/tasks")
    console.find_element(By.CSS_SELECTOR, "details.submit summary").click()
    Select(console.find_element(By.ID, "f-kind")).select_by_value("voice_isolation")
    console.find_element(By.ID, "f-prompt").send_keys("no prompt here")
    console.find_element(By.ID, "f-options").send_keys("{not json")
    console.find_element(By.CSS_SELECTOR, ".submit-form button[type=submit]").click()
    options = until(console, lambda d: d.find_elements(By.ID, "e-options"))[0]
    assert "not JSON" in options.text
    assert "no prompt field" in console.find_element(By.ID, "e-prompt").text
    selected = Select(console.find_element(By.ID, "f-kind")).first_selected_option
    assert selected.get_attribute("value") == "voice_isolation"
    assert console.find_element(By.ID, "f-options").get_attribute("value") == "{not json"


@pytest.mark.parametrize("suffix", ["png", "jpg", "webp"])
def test_an_image_task_page_shows_the_image(console: WebDriver, relay: Relay, suffix: str) -> None:
    body: dict[str, Any] = {"kind": "text_to_image", "model": "gen4_image"}
    task_id = relay.submit(**body, promptText=f"a cat format={suffix}").json()["id"]
    _task_page(console, relay, task_id)
    until(console, lambda d: d.execute_script(IMAGE_LOADED))
    [copy] = [f for f in relay.task(task_id)["media"]["files"] if f["role"] == "image"]
    assert copy["content_type"] == TYPES[suffix]


@pytest.mark.parametrize("suffix", ["mp3", "wav", "ogg"])
def test_an_audio_task_page_plays_the_sound(console: WebDriver, relay: Relay, suffix: str) -> None:
    body: dict[str, Any] = {"kind": "sound_effect", "model": "eleven_text_to_sound_v2"}
    task_id = relay.submit(**body, promptText=f"rain format={suffix}").json()["id"]
    _task_page(console, relay, task_id)
    duration = until(console, lambda d: d.execute_script(AUDIO_READ))
    assert 0.4 < duration < 0.6  # the simulator's half-second sounds
    assert not console.find_elements(By.CSS_SELECTOR, "#media img, #media video")
    [copy] = [f for f in relay.task(task_id)["media"]["files"] if f["role"] == "audio"]
    assert copy["content_type"] == TYPES[suffix]
