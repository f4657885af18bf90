"""Events by pull: a `pull` downstream (no URL) made by an app is read at
`/v1/downstreams/{name}/events` after an opaque cursor, oldest first, never twice; `wait`
answers as soon as an event is there; another app never reads it; a tampered cursor is
refused."""

from __future__ import annotations

import re
import threading
import time

import httpx

from tests.conftest import MakeRelay
from tests.e2e.test_app_downstreams import _app, _made
from tests.harness import Relay, image_to_video, settled, wait_for


def _submit(relay: Relay, client: httpx.Client, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        answer = client.post("/v1/tasks", json=image_to_video())
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    for task_id in ids:
        relay.wait_task(task_id, settled)
    return ids


def _read_all(client: httpx.Client, after: str | None = None) -> tuple[list[str], str]:
    """Every task id read, page by page (two a page), and the last cursor."""
    seen: list[str] = []
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        answer = client.get("/v1/downstreams/inbox/events", params=params)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        after = page["next"]
        if not page["data"]:
            return seen, after
        seen += [event["data"]["task_id"] for event in page["data"]]


def test_pull_reads_each_event_once_and_only_its_apps(make_relay: MakeRelay):
    relay = make_relay([])
    alpha, beta = _app(relay, "alpha"), _app(relay, "beta")
    made = _made(alpha, name="inbox", format="pull", events=["succeeded"])
    assert made["format"] == "pull"
    _made(beta, name="inbox", format="pull", events=["succeeded"])
    refused = alpha.post(
        "/v1/downstreams", json={"name": "x", "format": "pull", "url": "https://a.example/"}
    )
    assert refused.status_code == 422

    ids = _submit(relay, alpha, 5)
    deadline = time.monotonic() + 20
    seen: list[str] = []
    after = None
    while set(seen) != set(ids) and time.monotonic() < deadline:
        more, after = _read_all(alpha, after)
        seen += more
        time.sleep(0.2)
    assert sorted(seen) == sorted(ids) and len(seen) == len(ids)  # each once
    assert _read_all(alpha, after)[0] == []  # after=next never repeats one
    assert _read_all(beta)[0] == []  # another app's events are not its

    # Another app's downstream is no such one; a cursor altered or of another is refused.
    assert beta.get("/v1/downstreams/inbox/events", params={"after": after}).status_code == 400
    tampered = after[:-2] + ("AA" if not after.endswith("AA") else "BB")
    assert alpha.get("/v1/downstreams/inbox/events", params={"after": tampered}).status_code == 400
    assert alpha.get("/v1/downstreams/elsewhere/events").status_code == 404
    # Settled, never failing: the fan-out keeps no pull row waiting.
    shown = alpha.get("/v1/downstreams/inbox").json()
    assert shown["deliveries"].get("succeeded") == len(ids), shown


def test_wait_answers_as_soon_as_an_event_is_there(make_relay: MakeRelay):
    relay = make_relay([])
    alpha = _app(relay, "alpha")
    _made(alpha, name="inbox", format="pull", events=["succeeded"])
    _, after = _read_all(alpha)
    started = time.monotonic()
    empty = alpha.get("/v1/downstreams/inbox/events", params={"after": after, "wait": 1})
    assert empty.json()["data"] == [] and time.monotonic() - started >= 0.9
    assert empty.json()["next"] == after

    with httpx.Client(base_url=relay.url, headers=dict(alpha.headers), timeout=40) as waiting:
        answers: list[httpx.Response] = []
        thread = threading.Thread(
            target=lambda: answers.append(
                waiting.get("/v1/downstreams/inbox/events", params={"after": after, "wait": 25})
            )
        )
        started = time.monotonic()
        thread.start()
        (task_id,) = _submit(relay, alpha, 1)
        thread.join(30)
    took = time.monotonic() - started
    assert answers and answers[0].status_code == 200, answers
    assert [e["data"]["task_id"] for e in answers[0].json()["data"]] == [task_id]
    assert took < 15, took


def test_the_console_and_portal_show_where_to_poll_and_how_many_are_readable(
    make_relay: MakeRelay,
):
    relay = make_relay([])
    alpha = _app(relay, "alpha")
    _made(alpha, name="inbox", format="pull", events=["succeeded"])
    ids = _submit(relay, alpha, 2)
    wait_for(lambda: len(_read_all(alpha)[0]) == len(ids))

    console = relay.console().get("/console/deliveries").text
    # The URL its app reads it at, with its key: never the id it is kept under.
    assert "with a key of <strong>alpha</strong>" in console
    assert "/v1/downstreams/inbox/events</code>" in console
    assert "<b>2</b> events readable now" in console

    link = alpha.post("/v1/portal-links", json={})
    assert link.status_code == 201, link.text
    browser = httpx.Client(base_url=relay.url, timeout=15)
    browser.get(str(link.json()["url"]).removeprefix(relay.url))
    portal = browser.get("/portal/")
    assert portal.status_code == 200, portal.text
    assert "/v1/downstreams/inbox/events</code>" in portal.text
    assert "<b>2</b> events readable now" in portal.text


def test_the_forms_offer_the_formats_they_can_make_and_the_portal_makes_a_pull_endpoint(
    make_relay: MakeRelay,
) -> None:
    relay = make_relay([])
    console = relay.console().get("/console/deliveries").text
    offered = set(re.findall(r'<option value="([a-z_]+)"', console))
    assert {"webhook", "sqs", "kinesis", "kafka", "pull"} <= offered
    assert "amqp" not in offered  # its exchange is not asked for there: the file's or the API's

    alpha = _app(relay, "alpha")
    link = alpha.post("/v1/portal-links", json={})
    assert link.status_code == 201, link.text
    browser = httpx.Client(base_url=relay.url, timeout=15)
    browser.get(str(link.json()["url"]).removeprefix(relay.url))
    page = browser.get("/portal/")
    offered = set(re.findall(r'<option value="([a-z_]+)"', page.text))
    assert "pull" in offered and "slack" in offered and "kafka" not in offered
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    fields = {"csrf": csrf.group(1), "name": "inbox", "url": "", "format": "pull"}
    throttled = {**fields, "max_per_second": "4", "action": "create"}  # kept, as any setting
    made = browser.post("/portal/endpoints", data=throttled)
    assert made.status_code == 200, re.findall(r"(?s)<main.*", made.text)[0][:1500]
    assert "/v1/downstreams/inbox/events</code>" in made.text
    listed = alpha.get("/v1/downstreams").json()["downstreams"]
    assert [(d["name"], d["format"], d["max_per_second"]) for d in listed] == [("inbox", "pull", 4)]
    # A format with an address still needs one.
    refused = browser.post(
        "/portal/endpoints",
        data={**fields, "name": "hook", "format": "webhook", "action": "create"},
    )
    assert "url" in refused.text and len(alpha.get("/v1/downstreams").json()["downstreams"]) == 1
