"""Events by pull: a `pull` downstream (no URL) made by an app is read at
`/v1/downstreams/{name}/events` after an opaque cursor, oldest first, never twice; `wait`
answers as soon as an event is there; another app never reads it; a tampered cursor is
refused. An answer stops at its budget (a costly transform's events, 1 MiB of them) with a
`next` that goes on exactly there, while `/livez` answers; a downstream removed and made
again under its name reads none of the old one's events, and the old one's cursors are
refused in words; a wait whose client hung up gives its app's slot back at once; an app's
waits are counted across its keys, and another app's reads answer all the same."""

from __future__ import annotations

import re
import socket
import threading
import time
from typing import Any

import httpx
import orjson
import pytest

from receiver.deliveries.pulled import ANSWER_BYTES, WAITING_PER_APP
from tests.conftest import MakeRelay
from tests.e2e.test_app_downstreams import SCOPES, _app, _made
from tests.e2e.test_apps import app_key
from tests.e2e.test_keys import as_key
from tests.harness import Relay, image_to_video, settled, wait_for

# Twenty copies of a 13,000-character field: some 260 KB an event, so four fill an answer.
BULKY = (
    '{"task": event.data.task_id, "copies": [' + ", ".join(["event.data.metadata.s"] * 20) + "]}"
)


def _submit(relay: Relay, client: httpx.Client, count: int, **extra: Any) -> list[str]:
    ids = []
    for _ in range(count):
        answer = client.post("/v1/tasks", json=image_to_video(**extra))
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
        # A task's id: where the webhook format has it, or where BULKY puts it.
        seen += [event.get("task") or event["data"]["task_id"] for event in page["data"]]


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


def _card(relay: Relay, name: str) -> str:
    """The console's card of the app's downstream `name`, found by its row in the table."""
    console = relay.console()
    listed = console.get("/console/deliveries").text
    [kept] = [n for n in re.findall(r'data-name="([^"]+)"', listed) if n.endswith(f".{name}")]
    return str(console.get("/console/deliveries", params={"downstream": kept}).text)


def test_the_console_and_portal_show_where_to_poll_and_how_many_are_readable(
    make_relay: MakeRelay,
):
    relay = make_relay([])
    alpha = _app(relay, "alpha")
    _made(alpha, name="inbox", format="pull", events=["succeeded"])
    ids = _submit(relay, alpha, 2)
    wait_for(lambda: len(_read_all(alpha)[0]) == len(ids))

    console = _card(relay, "inbox")
    # The URL its app reads it at, with its key: never the id it is kept under.
    assert "with a key of <strong>alpha</strong>" in console
    assert "/v1/downstreams/inbox/events</code>" in console
    assert "<b>2</b> events readable now" in console
    assert "Rotate secret" not in console  # nothing is signed for it
    assert "/remove" in console  # still removable

    link = alpha.post("/v1/portal-links", json={})
    assert link.status_code == 201, link.text
    browser = httpx.Client(base_url=relay.url, timeout=15)
    browser.get(str(link.json()["url"]).removeprefix(relay.url))
    listed = browser.get("/portal/")
    assert 'href="/portal/endpoints/inbox"' in listed.text  # its page, from the list
    portal = browser.get("/portal/endpoints/inbox")
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


def _pages(client: httpx.Client, limit: int, after: str | None = None) -> list[dict[str, Any]]:
    """Every answer, following `next` from `after`, up to the first with no event."""
    pages = []
    while True:
        params = {"limit": limit, **({"after": after} if after else {})}
        answer = client.get("/v1/downstreams/inbox/events", params=params)
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
        after = pages[-1]["next"]
        if not pages[-1]["data"]:
            return pages


@pytest.mark.every_backend
def test_a_long_read_stops_at_its_budget_and_next_goes_on_exactly_there(make_relay: MakeRelay):
    relay = make_relay([])
    alpha = _app(relay, "alpha")
    _made(alpha, name="inbox", format="pull", events=["succeeded"], transform=BULKY)
    ids = _submit(relay, alpha, 10, promptText="queue=0 run=0", metadata={"s": "x" * 13_000})
    # Every one readable (two an answer) before the long read.
    wait_for(lambda: len(_read_all(alpha)[0]) == len(ids))

    # Before, one answer held all ten (2.6 MB), shaped without a pause.
    pages: list[dict[str, Any]] = []
    reader = threading.Thread(target=lambda: pages.extend(_pages(alpha, 1000)))
    statuses: list[int] = []
    with httpx.Client(base_url=relay.url, timeout=10.0) as probe:
        reader.start()
        while reader.is_alive() or not statuses:
            statuses.append(probe.get("/livez").status_code)
    reader.join()
    assert set(statuses) == {200}
    assert len(pages[0]["data"]) < len(ids)  # stopped at its budget, with a `next`
    for page in pages:
        size = sum(len(orjson.dumps(event)) for event in page["data"])
        assert size <= ANSWER_BYTES or len(page["data"]) == 1, size
    seen = [event["task"] for page in pages for event in page["data"]]
    assert sorted(seen) == sorted(ids)  # each once, none left out where an answer stopped


@pytest.mark.every_backend
def test_a_downstream_made_again_under_its_name_reads_none_of_the_old_ones_events(
    make_relay: MakeRelay,
):
    relay = make_relay([])
    alpha = _app(relay, "alpha")
    _made(alpha, name="inbox", format="pull", events=["succeeded"])
    ids = _submit(relay, alpha, 2)
    wait_for(lambda: len(_read_all(alpha)[0]) == len(ids))
    _, old_cursor = _read_all(alpha)
    halfway = alpha.get("/v1/downstreams/inbox/events", params={"limit": 1}).json()["next"]

    # Before, the new one read the old one's events, and its cursors went on.
    assert alpha.delete("/v1/downstreams/inbox").status_code in (200, 204)
    _made(alpha, name="inbox", format="pull", events=["succeeded"])
    assert _read_all(alpha)[0] == []
    for cursor in (halfway, old_cursor):
        refused = alpha.get("/v1/downstreams/inbox/events", params={"after": cursor})
        assert refused.status_code == 400 and "removed since" in refused.text, refused.text
    assert "<b>0</b> events readable now" in _card(relay, "inbox")
    (fresh,) = _submit(relay, alpha, 1)
    assert wait_for(lambda: _read_all(alpha)[0]) == [fresh]


def _waiting(relay: Relay, key: str, after: str) -> socket.socket:
    """A wait of 25 s sent on a socket of its own (closed by the caller: a hang-up)."""
    conn = socket.create_connection(("127.0.0.1", int(relay.url.rsplit(":", 1)[1])))
    conn.sendall(
        f"GET /v1/downstreams/inbox/events?wait=25&after={after} HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nAuthorization: {key}\r\n\r\n".encode()
    )
    return conn


def test_a_wait_whose_client_hung_up_gives_its_slot_back_at_once(make_relay: MakeRelay):
    relay = make_relay([])
    alpha = _app(relay, "alpha")
    _made(alpha, name="inbox", format="pull", events=["succeeded"])
    _, after = _read_all(alpha)
    # Waits until the key's slots are all taken: the next is refused at once.
    held: list[socket.socket] = []
    while True:
        conn = _waiting(relay, alpha.headers["Authorization"], after)
        conn.settimeout(1.0)
        try:
            head = conn.recv(64)
        except TimeoutError:
            held.append(conn)  # waiting
            continue
        conn.close()
        assert b" 503 " in head, head
        break
    assert len(held) >= WAITING_PER_APP
    for conn in held:
        conn.close()
    # Before, the slots stayed taken until each wait's 25 s ran out.

    def answered() -> dict[str, Any] | None:
        got = alpha.get("/v1/downstreams/inbox/events", params={"after": after})
        return dict(got.json()) if got.status_code == 200 else None

    assert wait_for(answered, timeout=5)["data"] == []


def _held(conn: socket.socket) -> bool:
    """Whether the wait sent on `conn` is waiting (not answered within a second)."""
    conn.settimeout(1.0)
    try:
        head = conn.recv(64)
    except TimeoutError:
        return True
    assert b" 503 " in head, head
    return False


def test_an_apps_waits_count_across_its_keys_and_another_apps_reads_answer_at_once(
    make_relay: MakeRelay,
):
    relay = make_relay([])
    alpha, beta = _app(relay, "alpha"), _app(relay, "beta")
    second = as_key(relay, app_key(relay, "alpha", "alpha-second", SCOPES))
    for client in (alpha, beta):
        _made(client, name="inbox", format="pull", events=["succeeded"])
    _, after = _read_all(alpha)
    held = [_waiting(relay, alpha.headers["Authorization"], after) for _ in range(WAITING_PER_APP)]
    assert all(_held(conn) for conn in held)
    # The app's other key finds its app's slots taken: no more waits for more keys.
    extra = _waiting(relay, second.headers["Authorization"], after)
    assert not _held(extra)
    extra.close()
    # App B reads, and its wait is answered with its event as soon as it is there.
    _, beta_after = _read_all(beta)
    answers: list[httpx.Response] = []
    params = {"after": beta_after, "wait": 25}
    thread = threading.Thread(
        target=lambda: answers.append(beta.get("/v1/downstreams/inbox/events", params=params))
    )
    thread.start()
    (task_id,) = _submit(relay, beta, 1)
    thread.join(30)
    assert answers and answers[0].status_code == 200, answers
    assert [e["data"]["task_id"] for e in answers[0].json()["data"]] == [task_id]
    for conn in held:
        conn.close()
