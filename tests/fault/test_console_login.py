"""Console abuse: guessing the admin token past the login brake, naming oneself another
address, locking the operator out; and a session cookie used after its logout.

Every relay here is a real `receiver serve` process. Clients other than 127.0.0.1 connect
from other loopback addresses (127.0.0.2, ...) to the relay on 127.0.0.1.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.conftest import MakeRelay
from tests.fault.support import Figures, backend_of
from tests.harness import ADMIN_TOKEN, Relay

pytestmark = pytest.mark.fault

GUESSES = 40
LOGIN_EVENTS = ("console.login", "console.login_failed", "console.login_limited")
OPENED = [200, 200, 422]  # what a live session gets on the three routes tried
REFUSED = [303, 401, 403]  # to the login form; the stream's 401; a form's 403


def browser(relay: Relay, address: str = "127.0.0.1") -> httpx.Client:
    """A client with its own cookie jar, connecting from `address`."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=relay.url, transport=transport, timeout=15)


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def log_in(client: httpx.Client, token: str, forwarded_for: str | None = None) -> httpx.Response:
    """One login attempt through the form, as a browser sends it."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    form = client.get("/console/login", headers=headers)
    assert form.status_code == 200, form.text
    data = {"csrf": csrf_of(form), "next": "/console/", "token": token}
    return client.post("/console/login", data=data, headers=headers)


def right_token(client: httpx.Client, forwarded_for: str | None = None) -> int:
    """A login with the admin token: its status only, so that a failed assertion's
    report never shows the token."""
    return log_in(client, ADMIN_TOKEN, forwarded_for).status_code


def login_lines(relay: Relay) -> list[dict[str, Any]]:
    return [line for line in relay.log_lines() if line.get("event") in LOGIN_EVENTS]


def test_a_forwarded_for_header_is_not_believed_from_an_untrusted_peer(
    make_relay: MakeRelay, figures: Figures, storage_url: str
) -> None:
    relay = make_relay()  # no trusted proxies: uvicorn's default would trust 127.0.0.1
    statuses = []
    with browser(relay) as attacker:
        for n in range(GUESSES):
            answer = log_in(attacker, f"wrong-guess-{n:02d}", f"198.51.100.{n + 1}")
            statuses.append(answer.status_code)
        assert int(answer.headers["retry-after"]) > 0
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}, statuses
    with browser(relay, "127.0.0.2") as operator:  # another address is not held back
        assert right_token(operator) == 303
    lines = login_lines(relay)
    refused = Counter(line["client"] for line in lines if line["event"] != "console.login")
    assert refused == {"127.0.0.1": GUESSES}
    assert [line["client"] for line in lines if line["event"] == "console.login"] == ["127.0.0.2"]
    figures.record(
        "console_forwarded_for_untrusted",
        backend=backend_of(storage_url),
        rotated_header_guesses=GUESSES,
        first_429_at=statuses.index(429) + 1,
        addresses_logged_for_them=len(refused),
        operator_elsewhere="logged in",
    )


def test_a_trusted_proxy_names_the_client_and_only_it_does(
    make_relay: MakeRelay, figures: Figures, storage_url: str
) -> None:
    relay = make_relay(server={"trusted_proxies": ["127.0.0.1"]})
    with browser(relay) as proxy:
        held = [log_in(proxy, "wrong", "203.0.113.7").status_code for _ in range(6)]
        assert held == [401] * 5 + [429]
        assert log_in(proxy, "wrong", "203.0.113.8").status_code == 401  # its own allowance
        # A proxy appends the address it saw: what the client wrote before it is not its name.
        assert log_in(proxy, "wrong", "198.51.100.1, 203.0.113.7").status_code == 429
        assert right_token(proxy, "203.0.113.9") == 303
    with browser(relay, "127.0.0.2") as direct:  # not a trusted proxy: its header is ignored
        direct_statuses = [
            log_in(direct, "wrong", f"198.51.100.{n}").status_code for n in range(1, 7)
        ]
    assert direct_statuses == [401] * 5 + [429]
    named = Counter(line["client"] for line in login_lines(relay))
    assert named == {"203.0.113.7": 7, "203.0.113.8": 1, "203.0.113.9": 1, "127.0.0.2": 6}
    figures.record(
        "console_forwarded_for_trusted",
        backend=backend_of(storage_url),
        forwarded_address_429_after=held.index(429),
        untrusted_peer_429_after=direct_statuses.index(429),
        addresses_logged=sorted(named),
    )


def test_many_addresses_guessing_slow_the_failers_and_not_the_operator(
    make_relay: MakeRelay, figures: Figures, storage_url: str
) -> None:
    relay = make_relay(
        server={"trusted_proxies": ["127.0.0.1"]},
        console={"global_login_failures_per_minute": 10},
    )
    bots = [f"198.51.100.{n}" for n in range(1, 11)]
    answers: Counter[int] = Counter()
    with browser(relay) as proxy:
        for bot in bots:  # one failure each: the global bound is reached
            answers[log_in(proxy, "wrong", bot).status_code] += 1
        assert answers == {401: 10}
        for _ in range(3):  # each has failed once: now that is its allowance
            for bot in bots:
                answers[log_in(proxy, "wrong", bot).status_code] += 1
        assert answers == {401: 10, 429: 30}
        # A clean address is still heard, with a wrong token or the right one.
        assert log_in(proxy, "wrong", "198.51.100.200").status_code == 401
        assert right_token(proxy, "203.0.113.50") == 303
    figures.record(
        "console_global_slowdown",
        backend=backend_of(storage_url),
        addresses=len(bots),
        bound_per_minute=10,
        attempts=sum(answers.values()),
        checked=answers[401],
        refused_429=answers[429],
        operator_from_clean_address="logged in",
    )


def test_an_attacker_behind_the_operators_proxy_cannot_lock_out_a_known_browser(
    make_relay: MakeRelay, figures: Figures, storage_url: str
) -> None:
    # An untrusted proxy in front: every client is its address, 127.0.0.1.
    relay = make_relay()
    with browser(relay) as operator:
        assert right_token(operator) == 303  # an earlier visit
        page = operator.get("/console/")
        assert operator.post("/console/logout", data={"csrf": csrf_of(page)}).status_code == 303
        with browser(relay) as attacker:
            statuses = Counter(log_in(attacker, "wrong").status_code for _ in range(GUESSES))
        assert statuses == {401: 5, 429: GUESSES - 5}
        with browser(relay) as stranger:  # all the relay knows of it is the locked address
            assert right_token(stranger) == 429
        assert right_token(operator) == 303
        assert operator.get("/console/").status_code == 200
    figures.record(
        "console_lockout_behind_one_proxy",
        backend=backend_of(storage_url),
        attacker_guesses=GUESSES,
        attacker_429=statuses[429],
        known_browser="logged in",
        new_browser_same_address=429,
    )


@pytest.mark.every_backend  # on PostgreSQL, a logout on one replica closes the others
def test_a_logged_out_cookie_opens_nothing(
    make_relay: MakeRelay, figures: Figures, storage_url: str
) -> None:
    relay = make_relay()
    replicas = [relay]
    if backend_of(storage_url) == "postgres":  # another replica on the same database
        replicas.append(make_relay())
    with browser(relay) as operator:
        assert right_token(operator) == 303
        cookie = operator.cookies["relay_console"]
        tasks = operator.get("/console/tasks")
        csrf = csrf_of(tasks)

    def routes(replica: Relay) -> list[int]:
        """What the cookie opens: the home page, the live stream, a form (an invalid task:
        422 once past the guard, so nothing is submitted)."""
        with httpx.Client(base_url=replica.url, cookies={"relay_console": cookie}) as c:
            home = c.get("/console/").status_code
            with c.stream("GET", "/console/stream") as stream:
                live = stream.status_code
            form = c.post("/console/tasks", data={"csrf": csrf, "kind": "video2video"})
            return [home, live, form.status_code]

    assert all(routes(r) == OPENED for r in replicas)
    with httpx.Client(base_url=relay.url, cookies={"relay_console": cookie}) as c:
        assert c.post("/console/logout", data={"csrf": csrf}).status_code == 303
    after = [routes(r) for r in replicas]
    assert all(statuses == REFUSED for statuses in after), after
    with httpx.Client(base_url=relay.url, cookies={"relay_console": cookie}) as c:
        home = c.get("/console/")
        assert home.headers["location"].startswith("/console/login")
        assert c.get("/console/login").status_code == 200  # the form, not a redirect loop
    figures.record(
        "console_logout",
        backend=backend_of(storage_url),
        replicas=len(replicas),
        routes_refused=sum(s == no for r in after for s, no in zip(r, REFUSED, strict=True)),
        routes_tried=3 * len(replicas),
    )
