"""A downstream's health, read from what its deliveries came to, in the one vocabulary of
the API's `health` and the command line's `downstreams list`: no traffic yet, healthy,
trying again while a failed delivery waits for its retry, failing once deliveries went dead
since its last success (its breaker still closed, shown under its own name), paused when
disabled; a pull downstream has no breaker, and no word its reads would contradict."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import MakeRelay, webhook
from tests.e2e.test_operator import ok, parse_table
from tests.harness import Relay, Sink, image_to_video, wait_for

# What a downstream's health is read from (its row and its deliveries) is the store's.
pytestmark = pytest.mark.every_backend


def _api(relay: Relay) -> dict[str, dict[str, Any]]:
    found = relay.api.get("/v1/downstreams").json()["downstreams"]
    return {d["name"]: d for d in found}


def _cli(relay: Relay) -> dict[str, dict[str, str]]:
    return {row["name"]: row for row in parse_table(ok(relay, "downstreams", "list"))}


def _shows(relay: Relay, word: str, hook_state: str | None = None) -> None:
    """`hook` reads `word` in the API and in the command line alike."""

    def there() -> bool:
        hook = _api(relay)["hook"]
        return hook["health"] == word and (
            hook_state is None or hook["deliveries"].get(hook_state, 0) > 0
        )

    wait_for(there)
    row = _cli(relay)["hook"]
    assert (row["health"], row["breaker"]) == (word, "closed"), row


def _task(relay: Relay) -> str:
    return str(relay.submit(**image_to_video()).json()["id"])


def test_health_reads_each_state_from_outcomes(make_relay: MakeRelay, sink: Sink) -> None:
    # One retry, a minute away: a failed delivery waits for it, deterministically.
    relay = make_relay(
        [webhook(sink, "hook"), {"name": "reads", "format": "pull"}],
        delivery={"retry_schedule": [60]},
    )
    shown = _api(relay)
    assert shown["hook"]["health"] == "no traffic yet"
    assert shown["reads"]["health"] == "no traffic yet"  # nothing to read yet
    _shows(relay, "no traffic yet")

    _task(relay)
    _shows(relay, "healthy", "succeeded")
    # A pull downstream with events to read: the relay cannot see its reads, so no word,
    # and it has no breaker.
    reads = wait_for(lambda: (r := _api(relay)["reads"])["deliveries"].get("succeeded") and r)
    assert reads["health"] is None
    row = _cli(relay)["reads"]
    assert (row["health"], row["breaker"]) == ("-", "-"), row

    sink.mode(status=500)  # a failure retried: waiting a minute for its retry
    _task(relay)
    _shows(relay, "trying again")
    hook = _api(relay)["hook"]
    assert hook["failing_since"] is not None and hook["deliveries"]["pending"] >= 1

    sink.mode(status=404)  # a failure for good: a dead letter
    _task(relay)
    _shows(relay, "failing", "dead")
    hook = _api(relay)["hook"]
    assert hook["breaker"] == "closed" and hook["dead_since_success"] >= 1
    # The words themselves, once, in the API's description of the field.
    schema = relay.api.get("/openapi.json").json()["components"]["schemas"]
    described = schema["DownstreamDetail"]["properties"]["health"]["description"]
    assert all(f"`{w}`" in described for w in ("failing", "paused", "trying again", "healthy"))

    assert ok(relay, "downstreams", "disable", "hook").startswith("hook: disabled")
    _shows(relay, "paused")
    assert _api(relay)["reads"]["health"] is None
