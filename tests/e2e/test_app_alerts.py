"""An app's own key names where its endpoints' alerts go (`GET`/`PUT /v1/app/alerts`, the
`downstreams` scope): one of its own downstreams only, then its endpoint's alert arrives
there; another app's downstream, a global one or an unknown name is refused in words."""

from __future__ import annotations

import os
from typing import Any

from tests import forked
from tests.conftest import MakeRelay, webhook
from tests.e2e.test_alerts import ALERTS, FAILING
from tests.e2e.test_app_downstreams import _app, _made
from tests.e2e.test_apps import app_key
from tests.e2e.test_keys import as_key
from tests.harness import Relay, image_to_video, wait_for


def test_an_apps_key_names_its_own_alert_downstream(make_relay: MakeRelay, make_sink: Any) -> None:
    bad, ops, mine = make_sink(), make_sink(), make_sink()
    relay = make_relay([webhook(ops, "ops", channels=["alerts-only"])], **ALERTS)
    alpha, beta = _app(relay, "alpha"), _app(relay, "beta")
    _made(alpha, name="crm", url=f"{bad.url}/crm", events=["succeeded"])
    _made(alpha, name="alerts", url=f"{mine.url}/alerts", channels=["alerts-only"])
    _made(beta, name="theirs", url=f"{mine.url}/theirs", channels=["alerts-only"])
    assert alpha.get("/v1/app/alerts").json() == {"app": "alpha", "alert_downstream": None}

    for name, why in (
        ("beta/theirs", "is not app 'alpha''s"),
        ("theirs", "no downstream named 'theirs'"),
        ("ops", "no downstream named 'ops'"),  # a global one is not the app's
        ("nope", "no downstream named 'nope'"),
    ):
        refused = alpha.put("/v1/app/alerts", json={"alert_downstream": name})
        assert refused.status_code == 422 and why in refused.json()["detail"], refused.text
    assert alpha.put("/v1/app/alerts", json={}).status_code == 422  # the field is required
    # The admin token has no app of its own: it names one through /v1/apps/{app}.
    assert "PATCH /v1/apps/{app}" in relay.api.get("/v1/app/alerts").json()["detail"]
    reader = as_key(relay, app_key(relay, "alpha", "alpha-reader", ["tasks:read"]))
    assert reader.get("/v1/app/alerts").status_code == 403
    put = reader.put("/v1/app/alerts", json={"alert_downstream": "alerts"})
    assert put.status_code == 403 and "downstreams" in put.text
    assert relay.api.get("/v1/apps/alpha").json()["alert_downstream"] is None

    named = alpha.put("/v1/app/alerts", json={"alert_downstream": "alpha/alerts"})
    assert named.json() == {"app": "alpha", "alert_downstream": "alerts"}, named.text
    assert relay.api.get("/v1/apps/alpha").json()["alert_downstream"] == "alerts"
    assert beta.get("/v1/app/alerts").json()["alert_downstream"] is None

    bad.mode(status=503)
    assert alpha.post("/v1/tasks", json=image_to_video()).status_code == 202
    wait_for(lambda: mine.accepted("/alerts"))
    [told] = [h["json"] for h in mine.accepted("/alerts")]
    assert told["type"] == FAILING
    assert (told["data"]["downstream"], told["data"]["app"]) == ("crm", "alpha")
    assert mine.accepted("/theirs") == []

    cleared = alpha.put("/v1/app/alerts", json={"alert_downstream": None})
    assert cleared.json()["alert_downstream"] is None
    # The admin's route still names it.
    changed = relay.api.patch("/v1/apps/alpha", json={"alert_downstream": "alerts"})
    assert alpha.get("/v1/app/alerts").json()["alert_downstream"] == "alerts", changed.text


def _as_app(relay: Relay, key: str, *args: str) -> Any:
    """`receiver <args>` with an app's key alone, no admin token."""
    env = {k: v for k, v in os.environ.items() if k != "RECEIVER_ADMIN_TOKEN"}
    env |= {"RECEIVER_URL": relay.url, "RECEIVER_API_KEY": key}
    return forked.run(list(args), env, timeout=60)


def test_the_command_line_names_it_with_the_apps_own_key(
    make_relay: MakeRelay, make_sink: Any
) -> None:
    sink = make_sink()
    relay = make_relay()
    alpha = _app(relay, "alpha")
    _made(alpha, name="alerts", url=f"{sink.url}/alerts")
    key = app_key(relay, "alpha", "alpha-cli", ["downstreams"])
    named = _as_app(relay, key, "apps", "alerts", "alpha", "alerts")
    assert named.stdout.strip() == "alpha: alerts to alerts", named.stderr
    assert relay.api.get("/v1/apps/alpha").json()["alert_downstream"] == "alerts"
    refused = _as_app(relay, key, "apps", "alerts", "beta", "alerts")
    assert refused.returncode != 0 and "is app 'alpha''s, not 'beta''s" in refused.stderr
    unknown = _as_app(relay, key, "apps", "alerts", "alpha", "nope")
    assert unknown.returncode != 0 and "no downstream named 'nope'" in unknown.stderr
    cleared = _as_app(relay, key, "apps", "alerts", "alpha")
    assert "alpha: alerts to none" in cleared.stdout, cleared.stderr
    assert key not in cleared.stdout + cleared.stderr
