"""What `/metrics` says of an app's downstream, on both backends (the app's name is read from
the store): `<app>/<name>`, by the names the operator and the app gave, never the id it is
kept under (`app_<id>.<name>`); and `/metrics` is served on a port of its own
(`server.metrics_listen`), open unless a token is set, and not on the public port (a 404,
as for any path the relay does not serve) unless the operator opts in."""

from __future__ import annotations

import re

import pytest

from tests.conftest import MakeRelay, webhook
from tests.e2e.test_apps import app_key, make_app
from tests.e2e.test_keys import as_key
from tests.harness import Sink, image_to_video, settled, wait_for

SCOPES = ["tasks:submit", "tasks:read", "downstreams"]


def _labels(text: str, metric: str) -> set[str]:
    return set(re.findall(rf'^{metric}\{{[^}}]*downstream="([^"]*)"', text, flags=re.MULTILINE))


@pytest.mark.every_backend
def test_an_apps_downstream_is_labelled_by_the_apps_name(make_relay: MakeRelay, sink: Sink):
    relay = make_relay([webhook(sink, "global")])
    make_app(relay, "alpha")
    alpha = as_key(relay, app_key(relay, "alpha", "alpha-key", SCOPES))
    made = alpha.post("/v1/downstreams", json={"name": "hooks", "url": f"{sink.url}/alpha"})
    assert made.status_code == 201, made.text
    answer = alpha.post("/v1/tasks", json=image_to_video())
    assert answer.status_code == 202, answer.text
    relay.wait_task(answer.json()["id"], settled)
    wait_for(lambda: sink.accepted("/alpha") or None)

    # Not on the public port: its labels name every app and downstream.
    hidden = relay.anon.get("/metrics")
    assert hidden.status_code == 404 and "alpha" not in hidden.text
    assert relay.api.get("/metrics").status_code == 404  # not even to the admin token
    # The metrics port answers /metrics alone.
    assert relay.metrics.get("/v1/tasks").status_code == 404
    assert relay.metrics.get("/livez").status_code == 404

    def scraped() -> str | None:
        # Open by default, as Prometheus scrapes it (server.metrics_token_env sets a token).
        text = relay.scrape()
        return text if "alpha/hooks" in _labels(text, "relay_deliveries_total") else None

    text = wait_for(scraped)
    assert _labels(text, "relay_deliveries_total") == {"global", "alpha/hooks"}
    assert _labels(text, "relay_delivery_seconds_count") == {"global", "alpha/hooks"}
    assert {"global", "alpha/hooks"} <= _labels(text, "relay_downstream_state")
    assert "app_" not in text
