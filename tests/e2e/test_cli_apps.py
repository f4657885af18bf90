"""`receiver apps` and `receiver keys create --app|--weight`, run as processes against one
running relay (SQLite): apps made, listed with their keys and downstreams, shown, and a
portal link that opens; keys made for an app or alone with a weight, listed with their app;
an app that is not there, or a refusal of the relay, one line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import relay_env
from tests.harness import SECRETS, Relay, Simulator, relay_settings
from tests.testkit import free_port


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory, _simulator: Simulator) -> Iterator[Relay]:
    tmp: Path = tmp_path_factory.mktemp("cli-apps")
    port = free_port()
    settings = relay_settings(
        f"sqlite:///{tmp / 'relay.db'}", f"http://127.0.0.1:{port}", _simulator.url
    )
    started = Relay(tmp, settings, relay_env())
    try:
        yield started.start()
    finally:
        started.close()
    assert not [s for s in SECRETS if s in started.log()]


def _ok(relay: Relay, *args: str) -> str:
    done = relay.cli(*args)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def _rows(printed: str) -> list[dict[str, str]]:
    """A table as the CLI prints it, cut at its dashed rule's columns."""
    header, rule, *lines = printed.splitlines()
    spans: list[tuple[int, int | None]] = []
    start = 0
    for dashes in rule.split("  "):
        spans.append((start, start + len(dashes)))
        start += len(dashes) + 2
    spans[-1] = (spans[-1][0], None)  # the last column's cells may run past its rule
    cut = [[line[a:b].strip() for a, b in spans] for line in [header, *lines]]
    return [dict(zip(cut[0], row, strict=True)) for row in cut[1:]]


def test_apps_made_listed_shown_and_their_portal_opened(relay: Relay) -> None:
    made = _ok(relay, "apps", "create", "render", "--weight", "3", "--max-queued", "20")
    assert made.strip() == "render: made (weight 3; max_queued 20)"
    assert _ok(relay, "apps", "create", "quiet").strip() == "quiet: made (weight 1; no limit)"
    key = relay.cli("keys", "create", "render-hooks", "--scope", "downstreams", "--app", "render")
    assert key.returncode == 0 and key.stdout.startswith("rr_"), key.stderr
    assert "render-hooks: made for app render (downstreams; weight 3; max_queued 20)" in key.stderr
    _ok(relay, "downstreams", "create", "render/hooks", f"{relay.url}/nowhere")

    changed = _ok(relay, "apps", "change", "quiet", "--weight", "2", "--max-per-day", "9")
    assert changed.strip() == "quiet: changed (weight 2; max_per_day 9)"
    lifted = _ok(relay, "apps", "change", "quiet", "--no-max-per-day")
    assert lifted.strip() == "quiet: changed (weight 2; no limit)"
    both = relay.cli("apps", "change", "quiet", "--max-queued", "3", "--no-max-queued")
    assert both.returncode == 2 and "--max-queued or lift it, not both" in both.stderr

    listed = {row["name"]: row for row in _rows(_ok(relay, "apps", "list"))}
    assert listed["render"] == {
        "name": "render",
        "weight": "3",
        "limits": "max_queued 20",
        "keys": "1",
        "downstreams": "1",
        "created": listed["render"]["created"],
    }
    assert (listed["quiet"]["keys"], listed["quiet"]["downstreams"]) == ("0", "0")

    shown = dict(line.split("  ", 1) for line in _ok(relay, "apps", "show", "render").splitlines())
    assert {k: v.strip() for k, v in shown.items() if k.strip() in ("keys", "downstreams")} == {
        "keys": "render-hooks (downstreams)",
        "downstreams": "render/hooks",
    }
    assert key.stdout.strip() not in str(shown)

    link = relay.cli("apps", "portal-link", "render", "--ttl", "60")
    assert link.returncode == 0 and "opens once, until" in link.stderr, link.stderr
    with httpx.Client(timeout=15, follow_redirects=True) as browser:
        page = browser.get(link.stdout.strip())
    assert page.status_code == 200 and 'id="app-name">render<' in page.text


def test_keys_made_for_an_app_or_alone_with_a_weight_list_their_app(relay: Relay) -> None:
    relay.api.post("/v1/apps", json={"name": "studio"}).raise_for_status()
    _ok(relay, "keys", "create", "studio-read", "--scope", "tasks:read", "--app", "studio")
    alone = relay.cli("keys", "create", "solo", "--scope", "tasks:submit", "--weight", "4")
    assert "solo: made for app solo (tasks:submit; weight 4)" in alone.stderr, alone.stderr

    listed = {row["name"]: row for row in _rows(_ok(relay, "keys", "list"))}
    assert (listed["studio-read"]["app"], listed["studio-read"]["weight"]) == ("studio", "1")
    assert (listed["solo"]["app"], listed["solo"]["weight"]) == ("solo", "4")

    # The weight is the app's, shared by its keys: not given with a key of an app.
    weighted = ("keys", "create", "x", "--scope", "tasks:read", "--app", "studio", "--weight")
    refused = relay.cli(*weighted, "2")
    assert refused.returncode == 2 and "with --app, give no --weight" in refused.stderr


def test_an_unknown_app_or_a_refusal_is_one_line(relay: Relay) -> None:
    for args in (
        ("apps", "show", "none-such"),
        ("apps", "portal-link", "none-such"),
        ("apps", "change", "none-such", "--weight", "2"),
        ("keys", "create", "k", "--scope", "tasks:read", "--app", "none-such"),
    ):
        done = relay.cli(*args)
        assert done.returncode == 1, args
        assert done.stderr.splitlines() == ["receiver: no app named 'none-such'"], args
    gone = relay.cli("keys", "revoke", "none-such")
    assert gone.returncode == 1 and gone.stderr == "receiver: no key named 'none-such'\n"
    relay.api.post("/v1/apps", json={"name": "keyless"}).raise_for_status()
    for args, words in (
        (("apps", "create", "keyless"), "409"),
        (("apps", "portal-link", "keyless"), "has no live key: its portal would not open"),
        (("apps", "create", "bad name!"), "422"),
    ):
        done = relay.cli(*args)
        assert done.returncode == 2 and done.stdout == "", args
        [line] = done.stderr.splitlines()
        assert line.startswith("receiver: the relay answered") and words in line, line


def _commands(helped: str) -> dict[str, str]:
    """A group's --help: each command with its short help, under whichever headings (a
    group that mixes store and API commands lists each kind under its own)."""
    listed = helped.split("\nOptions:\n", 1)[1].splitlines()
    return {
        line.split()[0]: line.split(None, 1)[1]
        for line in listed
        if line.startswith("  ") and not line.lstrip().startswith("-")
    }


def test_the_apps_and_downstreams_commands_each_have_help(relay: Relay) -> None:
    assert "apps" in _commands(_ok(relay, "--help"))
    downstreams = _commands(_ok(relay, "downstreams", "--help"))
    every = {"list", "create", "change", "disable", "enable", "rotate", "remove", "validate"}
    assert set(downstreams) == every
    helped = _ok(relay, "downstreams", "--help")
    api, store = helped.split("Through a running relay only")[1].split(
        "Through a running relay, or the store with --store"
    )
    assert {"create", "change", "rotate", "remove", "validate"} == {
        line.split()[0] for line in api.splitlines()[1:] if line.strip()
    }
    assert {"list", "disable", "enable"} == {
        line.split()[0] for line in store.splitlines()[1:] if line.strip()
    }
    apps = _commands(_ok(relay, "apps", "--help"))
    assert set(apps) == {"create", "change", "list", "show", "portal-link", "alerts"}
    assert all(len(text) > 10 for text in [*downstreams.values(), *apps.values()])
