"""A share link's page in a real browser: the progress bar, then the mirrored video."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import missing
from tests.harness import Relay, image_to_video, wait_for

if missing():
    pytest.skip(str(missing()), allow_module_level=True)

from selenium.webdriver.common.by import By

pytestmark = pytest.mark.xdist_group("console-browser")


def test_the_share_page_shows_progress_then_plays_the_video(chromium: Any, relay: Relay) -> None:
    made = relay.api.post(
        "/v1/keys", json={"name": "page-app", "scopes": ["tasks:submit", "tasks:read"]}
    )
    key = made.json()["key"]
    headers = {"Authorization": f"Bearer {key}"}
    task = relay.api.post("/v1/tasks", json=image_to_video(), headers=headers).json()["id"]
    url = relay.api.post(f"/v1/tasks/{task}/share", headers=headers).json()["url"]

    chromium.get(url)
    assert chromium.find_elements(By.CSS_SELECTOR, "[role=progressbar]")
    wait_for(
        lambda: chromium.find_elements(By.CSS_SELECTOR, "video.render[src*='/media/']"),
        timeout=30,
    )
    wait_for(
        lambda: chromium.execute_script(
            "return document.querySelector('video.render').readyState >= 2;"
        )
    )
    assert chromium.find_element(By.ID, "state").get_attribute("data-state") == "succeeded"
    assert chromium.execute_script("return document.getElementById('fill').style.width") == "100%"
