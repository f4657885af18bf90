"""A downstream's options as the forms derive them from its model (receiver/destinations/
options.py), against a running relay: the console's and an app's portal's forms offer each
with its description, and what they submit is stored as the API shows it; an edit form's
emptied option is unset where it may be, else kept."""

from __future__ import annotations

import re

import httpx

from tests.conftest import MakeRelay
from tests.e2e.test_apps import app_key, make_app
from tests.e2e.test_keys import as_key
from tests.harness import Sink

# Words of each option's description, as its model gives them.
DESCRIBED = {
    "timeout": "Seconds an attempt may take.",
    "max_in_flight": "Its share of the fan-out",
    "max_per_second": "by every replica together",
    "signing": "How deliveries are signed",
}


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def _offers_every_option(page: str) -> None:
    for name, words in DESCRIBED.items():
        assert f'name="{name}"' in page and words in page, name
    assert re.search(r'<select name="signing">\s*<option value="hmac" selected>', page)
    assert re.search(r'<input name="max_in_flight" type="number" step="1" min="1', page)


def test_the_consoles_form_makes_and_changes_a_downstream_with_its_options(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay()
    console = relay.console()
    page = console.get("/console/deliveries")
    _offers_every_option(page.text)
    csrf = _csrf(page)
    form = {
        "csrf": csrf,
        "name": "tuned",
        "url": f"{sink.url}/tuned",
        "format": "webhook",
        "signing": "ed25519",
        "timeout": "4.5",
        "max_in_flight": "3",
        "max_per_second": "",
    }
    refused = console.post("/console/downstreams", data={**form, "max_in_flight": "0"})
    assert refused.status_code == 422 and "max_in_flight" in refused.text
    assert 'name="timeout" type="number" step="any" value="4.5"' in refused.text  # kept

    made = console.post("/console/downstreams", data=form)
    assert made.status_code == 200, made.text[:2000]
    shown = relay.api.get("/v1/downstreams/tuned").json()
    assert (shown["signing"], shown["timeout"], shown["max_in_flight"]) == ("ed25519", 4.5, 3)
    assert "max_per_second" not in shown

    # Its edit form holds them as they are; emptied, a nullable one is unset, the rest kept.
    page = console.get("/console/deliveries?downstream=tuned").text  # its card
    assert 'name="max_in_flight" type="number" step="1" min="1" value="3"' in page
    edit = {"csrf": csrf, "timeout": "", "max_in_flight": "5", "max_per_second": "2"}
    changed = console.post("/console/downstreams/tuned/edit", data=edit)
    assert changed.status_code == 303, changed.text
    shown = relay.api.get("/v1/downstreams/tuned").json()
    assert (shown["timeout"], shown["max_in_flight"], shown["max_per_second"]) == (4.5, 5, 2)
    emptied = {**edit, "max_per_second": ""}
    assert console.post("/console/downstreams/tuned/edit", data=emptied).status_code == 303
    assert "max_per_second" not in relay.api.get("/v1/downstreams/tuned").json()


def test_an_apps_portal_offers_the_same_options_and_stores_them(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay()
    make_app(relay, "render")
    render = as_key(relay, app_key(relay, "render", "render-hooks", ["downstreams"]))
    link = render.post("/v1/portal-links", json={})
    assert link.status_code == 201, link.text
    browser = httpx.Client(base_url=relay.url, timeout=15, follow_redirects=False)
    assert browser.get(link.json()["url"].removeprefix(relay.url)).status_code == 303
    page = browser.get("/portal/")
    _offers_every_option(page.text)
    form = {
        "csrf": _csrf(page),
        "name": "tuned",
        "url": f"{sink.url}/tuned",
        "format": "webhook",
        "signing": "hmac",
        "max_in_flight": "2",
        "max_per_second": "1.5",
    }
    made = browser.post("/portal/endpoints", data=form)
    assert made.status_code == 200 and 'id="secret-value"' in made.text, made.text[:2000]
    shown = render.get("/v1/downstreams/tuned").json()
    assert (shown["max_in_flight"], shown["max_per_second"], shown["timeout"]) == (2, 1.5, 10)
