"""Two apps' portals in a real browser: each portal link opens a session for its app
alone, which shows and changes only that app's endpoints, deliveries and tasks (never the
other app's, nor the operator's global downstreams); the other app's ids are 404 pages; the
new-endpoint form previews its filter as it is typed (the console's preview); a link opened
twice is refused with a page; and the portal's pages may not be framed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import log_in
from tests.browser.layout import SIZES, measure
from tests.chromium import missing
from tests.e2e.test_apps import app_key, make_app
from tests.e2e.test_keys import as_key
from tests.harness import Relay, Sink, image_to_video, wait_for

if missing():
    pytest.skip(str(missing()), allow_module_level=True)

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.test_console import until

pytestmark = pytest.mark.xdist_group("portal-browser")
SCOPES = ["downstreams", "tasks:submit", "tasks:read"]


@pytest.fixture(scope="module")
def apps(relay: Relay, sinks: dict[str, Sink]) -> Iterator[dict[str, Any]]:
    """Two apps, each with a key, an endpoint of its own and a task delivered to it."""
    made: dict[str, Any] = {}
    for name in ("alpha", "beta"):
        make_app(relay, name)
        client = as_key(relay, app_key(relay, name, f"{name}-key", SCOPES))
        endpoint = {"name": f"{name}-hook", "url": f"{sinks['hook'].url}/{name}"}
        assert client.post("/v1/downstreams", json=endpoint).status_code == 201
        task = client.post("/v1/tasks", json=image_to_video(promptText=f"{name} prompt"))
        assert task.status_code == 202, task.text
        task_id = task.json()["id"]

        def delivered(client: Any = client, task_id: str = task_id) -> Any:
            found = client.get("/v1/deliveries", params={"task_id": task_id}).json()
            return [d for d in found["deliveries"] if d["state"] == "succeeded"]

        made[name] = {
            "client": client,
            "task": task_id,
            "delivery": wait_for(delivered)[0]["id"],
        }
    yield made
    for app in made.values():
        app["client"].close()


def _open(driver: WebDriver, relay: Relay, app: dict[str, Any]) -> str:
    url = str(app["client"].post("/v1/portal-links", json={}).json()["url"])
    driver.get(url)
    until(driver, lambda d: d.find_elements(By.ID, "app-name"))
    return url


def _text(driver: WebDriver) -> str:
    """The page's text; empty while the page is being replaced (a form sent)."""
    try:
        return str(driver.find_element(By.TAG_NAME, "body").text)
    except StaleElementReferenceException:
        return ""


def _health(driver: WebDriver, card: str, name: str) -> dict[str, tuple[str, str]]:
    """Each downstream's health word and breaker as the page shows them ("": none), by the
    name the page gives it."""

    def text(where: Any, css: str) -> str:
        return " ".join(e.text for e in where.find_elements(By.CSS_SELECTOR, css))

    return {
        c.find_element(By.CSS_SELECTOR, name).text: (
            text(c, ".downstream-health"),
            text(c, ".breaker"),
        )
        for c in driver.find_elements(By.CSS_SELECTOR, card)
    }


# Each test makes what it reads if an earlier one has not (the order xdist keeps is not
# promised): the form's endpoint, as test_a_new_endpoint_... makes it, and a pull endpoint
# with an event to read.
SECOND = {"filter": 'event.type == "task.failed"', "events": ["succeeded", "failed", "cancelled"]}


def _second(alpha: dict[str, Any], sinks: dict[str, Sink]) -> None:
    client = alpha["client"]
    if client.get("/v1/downstreams/alpha-second").status_code == 404:
        body = {"name": "alpha-second", "url": f"{sinks['hook'].url}/alpha-second", **SECOND}
        assert client.post("/v1/downstreams", json=body).status_code == 201


def _pull_with_an_event(alpha: dict[str, Any]) -> None:
    client = alpha["client"]
    if client.get("/v1/downstreams/alpha-pull").status_code == 404:
        made = client.post("/v1/downstreams", json={"name": "alpha-pull", "format": "pull"})
        assert made.status_code == 201
    if not client.get("/v1/downstreams/alpha-pull").json()["deliveries"].get("succeeded"):
        client.post("/v1/tasks", json=image_to_video(promptText="to pull"))
        wait_for(
            lambda: client.get("/v1/downstreams/alpha-pull").json()["deliveries"].get("succeeded")
        )


def test_each_apps_portal_shows_and_changes_only_its_own(
    chromium: WebDriver, relay: Relay, apps: dict[str, Any]
):
    driver = chromium
    for me, them in (("alpha", "beta"), ("beta", "alpha")):
        mine, theirs = apps[me], apps[them]
        url = _open(driver, relay, mine)
        assert driver.find_element(By.ID, "app-name").text == me
        rows = driver.find_elements(By.CSS_SELECTOR, "#endpoints tr[data-name]")
        shown = [e.get_attribute("data-name") for e in rows]
        assert shown == [f"{me}-hook"]  # not the other app's, nor the operator's `hook`

        driver.get(f"{relay.url}/portal/deliveries")
        rows = driver.find_elements(By.CSS_SELECTOR, "#deliveries tr[id^='delivery-']")
        ids = {r.get_attribute("id").removeprefix("delivery-") for r in rows}
        assert mine["delivery"] in ids and theirs["delivery"] not in ids
        # The log leads with the task's prompt and the endpoint's name, never an internal id.
        first = rows[-1].find_elements(By.TAG_NAME, "td")
        assert [first[0].text, first[2].text] == [f"{me} prompt", f"{me}-hook"]
        table = driver.find_element(By.ID, "deliveries").text
        assert "msg_" not in table and "tsk_" not in table
        driver.get(f"{relay.url}/portal/deliveries/{mine['delivery']}")
        assert driver.find_elements(By.CSS_SELECTOR, "#attempts tr.attempt")
        excerpt = driver.find_element(By.CSS_SELECTOR, "#attempts pre.excerpt").text
        assert excerpt == '{"ok":true}'  # the start of the endpoint's answer

        driver.get(f"{relay.url}/portal/tasks")
        assert driver.find_elements(By.ID, f"task-{mine['task']}")
        assert not driver.find_elements(By.ID, f"task-{theirs['task']}")
        driver.find_element(By.CSS_SELECTOR, f"#task-{mine['task']} button").click()
        link = until(driver, lambda d: d.find_elements(By.ID, "share-url"))
        assert "/share/" in str(link[0].get_attribute("href"))
        # A task, by its prompt, opens its page with its deliveries.
        driver.find_element(By.LINK_TEXT, f"{me} prompt").click()
        until(driver, lambda d: d.find_elements(By.ID, "task-title"))
        assert driver.find_element(By.ID, "task-title").text == f"{me} prompt"
        rows = driver.find_elements(By.CSS_SELECTOR, "#deliveries tr[id^='delivery-']")
        assert [r.get_attribute("id") for r in rows] == [f"delivery-{mine['delivery']}"]

        # The other app's ids are no such thing here.
        for path in (
            f"/portal/deliveries/{theirs['delivery']}",
            f"/portal/deliveries?endpoint={them}-hook",
            f"/portal/endpoints/{them}-hook",
            f"/portal/tasks/{theirs['task']}",
        ):
            driver.get(relay.url + path)
            assert driver.find_element(By.ID, "refused").get_attribute("data-code") == "404"

        # A change made on its page, from the list, is this app's alone.
        driver.get(f"{relay.url}/portal/")
        driver.find_element(By.CSS_SELECTOR, f"#row-{me}-hook a.name").click()
        card = f"#endpoint-{me}-hook form.edit"
        form = until(driver, lambda d, card=card: d.find_elements(By.CSS_SELECTOR, card))[0]
        field = form.find_element(By.NAME, "channels")
        field.clear()
        field.send_keys(f"{me}-channel")
        # Its states are choices, each a box: cancelled is no longer sent.
        form.find_element(By.CSS_SELECTOR, "input[name='event.cancelled']").click()
        form.find_element(By.CSS_SELECTOR, "button").click()
        until(driver, lambda d: "Endpoint changed." in _text(d))
        assert f"/portal/endpoints/{me}-hook?done=changed" in driver.current_url  # back to its page
        own = mine["client"].get(f"/v1/downstreams/{me}-hook").json()
        other = theirs["client"].get(f"/v1/downstreams/{them}-hook").json()
        assert own["channels"] == [f"{me}-channel"]
        assert own["events"] == ["failed", "succeeded"]
        assert f"{me}-channel" not in other.get("channels", [])

        # The link opened once goes in again only in the browser it opened in; elsewhere
        # it opens no more, and a page says so.
        driver.get(url)
        until(driver, lambda d: d.find_elements(By.ID, "app-name"))
        driver.delete_all_cookies()
        driver.get(url)
        assert driver.find_element(By.ID, "refused").get_attribute("data-why") == "used"


def test_a_new_endpoint_is_previewed_as_typed_and_its_secret_shown_once(
    chromium: WebDriver, relay: Relay, sinks: dict[str, Sink], apps: dict[str, Any]
):
    driver = chromium
    _open(driver, relay, apps["alpha"])
    driver.find_element(By.CSS_SELECTOR, "#new-downstream summary").click()
    form = driver.find_element(By.CSS_SELECTOR, "#new-downstream form")
    form.find_element(By.NAME, "name").send_keys("alpha-second")
    form.find_element(By.NAME, "url").send_keys(f"{sinks['hook'].url}/alpha-second")
    form.find_element(By.NAME, "filter").send_keys('event.type == "task.failed"')

    def verdict(d: WebDriver) -> Any:
        panel = d.find_element(By.ID, "preview")
        return not panel.get_attribute("data-busy") and panel.get_attribute("data-state")

    assert until(driver, verdict) == "refused"  # the example succeeded
    form.find_element(By.CSS_SELECTOR, "button[value=create]").click()
    secret = until(driver, lambda d: d.find_elements(By.ID, "secret-value"))
    assert secret[0].text.startswith("whsec_")
    # Its copy button puts it on the clipboard, read back here as a paste would.
    copy = driver.find_element(By.CSS_SELECTOR, "#secret-once button[data-copy]")
    copy.click()
    until(driver, lambda d: copy.get_attribute("data-copied"))
    assert copy.get_attribute("data-copied") == "yes"
    grant = {"origin": relay.url, "permissions": ["clipboardReadWrite"]}
    driver.execute_cdp_cmd("Browser.grantPermissions", grant)
    pasted = driver.execute_async_script(
        "navigator.clipboard.readText().then(arguments[0], () => arguments[0](null));"
    )
    assert pasted == secret[0].text
    made = apps["alpha"]["client"].get("/v1/downstreams/alpha-second").json()
    assert made["filter"] == 'event.type == "task.failed"'
    assert apps["beta"]["client"].get("/v1/downstreams/alpha-second").status_code == 404
    driver.refresh()
    assert not driver.find_elements(By.ID, "secret-value")


def test_the_portal_may_not_be_framed_unless_its_app_allows(relay: Relay, apps: dict[str, Any]):
    answer = relay.anon.get("/portal/")
    assert answer.status_code == 403 and answer.headers["x-frame-options"] == "DENY"
    # A browser that never had a session is asked to sign in, not told one ended.
    assert 'data-why="signed-out"' in answer.text and "ended" not in answer.text
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_every_page_fits_a_phone_and_a_desktop(
    chromium: WebDriver, relay: Relay, sinks: dict[str, Sink], apps: dict[str, Any]
):
    """The portal's, the console's and the share page, each at 390 and 1280 px: no page
    wider than the screen, no table wider than its card, the navigation on screen. On them,
    each downstream's health in one word (never `healthy` beside a dead letter), its breaker
    under its own name, and an app's downstream as APP/NAME, never its internal id."""
    driver, alpha = chromium, apps["alpha"]
    share = alpha["client"].post(f"/v1/tasks/{alpha['task']}/share").json()["url"]
    # A pull endpoint with an event to read: no breaker, and no word its reads could belie.
    _pull_with_an_event(alpha)
    _second(alpha, sinks)
    # A dead letter and a disabled endpoint: the rows and forms a good day does not show.
    sinks["fragile"].mode(status=500)
    dead = relay.submit(**image_to_video(promptText="a dead letter")).json()["id"]
    relay.wait_task(dead, lambda t: any(d["state"] == "dead" for d in t["deliveries"]))
    sinks["fragile"].mode(status=200)
    assert alpha["client"].post("/v1/downstreams/alpha-hook/disable").status_code == 200
    wrong: list[str] = []

    def check(name: str, path: str, keep: bool = True) -> None:
        driver.get(path if path.startswith("http") else relay.url + path)
        for size in SIZES:
            wrong.extend(measure(driver, name, size, keep))

    _open(driver, relay, alpha)
    check("portal-endpoints", "/portal/")
    assert _health(driver, "#endpoints tr[data-name]", ".name") == {
        "alpha-hook": ("paused", ""),  # disabled: its breaker says nothing then
        "alpha-second": ("no traffic yet", ""),  # its filter took nothing; a closed breaker
        "alpha-pull": ("", ""),
    }
    check("portal-endpoint-disabled", "/portal/endpoints/alpha-hook", keep=False)
    assert _health(driver, ".endpoint", "h2 .name") == {"alpha-hook": ("paused", "")}
    check("portal-endpoint-pull", "/portal/endpoints/alpha-pull", keep=False)
    assert _health(driver, ".endpoint", "h2 .name") == {"alpha-pull": ("", "")}
    assert "/v1/downstreams/alpha-pull/events" in driver.find_element(By.ID, "pull-alpha-pull").text
    check("portal-deliveries", "/portal/deliveries")
    check("portal-delivery", f"/portal/deliveries/{alpha['delivery']}")
    check("portal-tasks", "/portal/tasks")
    check("portal-task", f"/portal/tasks/{alpha['task']}")
    check("share", share)
    check("share-closed", share[:-3] + "AAA", keep=False)  # a forged link's page
    assert driver.find_elements(By.ID, "closed")
    driver.get(f"{relay.url}/portal/")
    driver.delete_all_cookies()  # the portal's cookie is seen from its own path alone
    check("portal-sign-in", "/portal/", keep=False)
    assert driver.find_element(By.ID, "refused").get_attribute("data-why") == "signed-out"
    check("console-login", "/console/login")
    log_in(driver, relay)
    check("console-overview", "/console/")
    assert _health(driver, "#health li", ".name") == {
        "hook": ("healthy", ""),  # a closed breaker goes unsaid: the health word says it
        "fragile": ("failing", ""),  # a dead letter since its last success
        "alpha/alpha-hook": ("paused", ""),
        "alpha/alpha-second": ("no traffic yet", ""),
        "alpha/alpha-pull": ("", ""),
        "beta/beta-hook": ("healthy", ""),
    }
    assert "app_" not in _text(driver)  # an app's downstream by its app's name, not its id
    check("console-tasks", "/console/tasks")
    check("console-task", f"/console/tasks/{dead}")
    check("console-deliveries", "/console/deliveries")
    assert "app_" not in _text(driver)
    assert _health(driver, "#downstreams tr[data-name]", ".name")["fragile"] == ("failing", "")
    pull = driver.find_element(By.CSS_SELECTOR, "#downstreams tr[data-name$='.alpha-pull']")
    pulled_card = f"/console/deliveries?downstream={pull.get_attribute('data-name')}"
    check("console-downstream-pull", pulled_card, keep=False)
    [pulled] = driver.find_elements(By.CSS_SELECTOR, "p.pull")
    assert "with a key of alpha: GET" in pulled.text, pulled.text
    assert "/v1/downstreams/alpha-pull/events" in pulled.text
    check("console-downstream", "/console/deliveries?downstream=fragile")
    # A failed delivery's answer, said once (the portal's log shares the words).
    answers = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "td.why")]
    assert any("HTTP 500" in a for a in answers)
    assert all(a.count("HTTP 500") <= 1 for a in answers), answers
    check("console-keys", "/console/keys")
    check("console-apps", "/console/apps")
    check("console-error", "/console/tasks/tsk_none", keep=False)
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert not wrong, "\n".join(wrong)


def test_an_endpoint_page_offers_what_its_endpoint_can_do(
    chromium: WebDriver, relay: Relay, sinks: dict[str, Sink], apps: dict[str, Any]
):
    """A webhook's page: its test event's type labelled beside its button, its states as
    boxes, of its authentication only the chosen kind's fields (all of them without
    JavaScript), a bad filter refused in the form's words. A pull endpoint's: no test
    event, no secret to rotate, no breaker, no health word once it has events."""
    driver = chromium
    _second(apps["alpha"], sinks)
    _pull_with_an_event(apps["alpha"])
    _open(driver, relay, apps["alpha"])
    driver.get(f"{relay.url}/portal/endpoints/alpha-second")
    served = driver.execute_async_script(
        "fetch(location.href).then(r => r.text()).then(arguments[0]);"
    )
    for kind in ("basic", "bearer", "oauth2"):
        assert f'<div class="auth-fields" data-auth="{kind}">' in served  # shown without JS

    card = driver.find_element(By.ID, "endpoint-alpha-second")
    test = card.find_element(By.CSS_SELECTOR, "form.test-event")
    label = test.find_element(By.XPATH, ".//select[@name='type']/ancestor::label")
    assert label.text.startswith("Test event")
    assert test.find_element(By.CSS_SELECTOR, "button").text == "Send a test event"
    boxes = card.find_elements(By.CSS_SELECTOR, "form.edit fieldset.events input[type=checkbox]")
    names = [b.get_attribute("name").removeprefix("event.") for b in boxes]
    assert names == [
        "queued",
        "running",
        "succeeded",
        "failed",
        "cancelled",
        "progress",
        "downstream.disabled",
    ]
    assert [n for n, b in zip(names, boxes, strict=True) if b.is_selected()] == [
        "succeeded",
        "failed",
        "cancelled",
    ]

    settings = card.find_element(By.CSS_SELECTOR, "details.settings")
    settings.find_element(By.TAG_NAME, "summary").click()

    def shown() -> list[str]:
        groups = settings.find_elements(By.CSS_SELECTOR, ".auth-fields")
        return [str(g.get_attribute("data-auth")) for g in groups if g.is_displayed()]

    assert shown() == []  # "none": no field of any kind
    details = settings.find_element(By.CSS_SELECTOR, "details.credentials")
    details.find_element(By.TAG_NAME, "summary").click()
    kind = settings.find_element(By.NAME, "auth_type")
    for chosen in ("bearer", "oauth2", "basic"):
        kind.find_element(By.CSS_SELECTOR, f"option[value={chosen}]").click()
        assert shown() == [chosen]
    driver.execute_script("window.scrollTo(0, 0);")  # its screenshot from the top
    for size in SIZES:  # the settings open, as an owner sees them
        assert not measure(driver, "portal-endpoint-settings", size)
    kind.find_element(By.CSS_SELECTOR, "option[value=none]").click()
    settings.find_element(By.NAME, "filter").send_keys("event.type ==")
    settings.find_element(By.CSS_SELECTOR, "form.settings button[value=edit]").click()
    said = until(driver, lambda d: d.find_elements(By.ID, "edit-error-alpha-second"))
    assert said[0].text.startswith("Not saved: filter is not valid CEL"), said[0].text

    assert driver.find_elements(By.ID, "endpoint-alpha-second")  # refused on its own page
    driver.get(f"{relay.url}/portal/endpoints/alpha-pull")
    pull = driver.find_element(By.ID, "endpoint-alpha-pull")
    for offered in ("test", "rotate"):
        assert not pull.find_elements(By.CSS_SELECTOR, f"button[value={offered}]")
    assert not pull.find_elements(By.CSS_SELECTOR, ".breaker, .downstream-health")
    summary = pull.find_element(By.CSS_SELECTOR, "details.settings summary").text
    assert summary == "Settings: filter, transform"
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
