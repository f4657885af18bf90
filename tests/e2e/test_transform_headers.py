"""A transform that, tried on the sample event, sets a header the relay owns (its signature's,
RFC 9421's, the framing's) or a value holding CR or LF is refused when the downstream is
made or changed, in words naming the header: before, it was taken (201) and every delivery
then dead-lettered."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import MakeRelay
from tests.e2e.test_app_downstreams import _app, _made
from tests.e2e.test_config import assert_one_line, base_settings, clean_env, serve
from tests.harness import Sink
from tests.testkit import to_toml

RELAYS_OWN = (
    "webhook-id",
    "webhook-signature",
    "webhook-timestamp",
    "Content-Type",
    "content-length",
    "Host",
    "Signature",
    "signature-input",
    "content-digest",
)
# CEL's escapes: the value the transform gives holds a CR and a LF.
SPLIT_VALUE = '"ok\\r\\nX-Injected: 1"'


def _setting(name: str, value: str = '"x"') -> str:
    return f'{{"body": {{"id": event.data.task_id}}, "headers": {{"{name}": {value}}}}}'


def _refused(answer: httpx.Response, said: str) -> None:
    status, detail = answer.status_code, answer.json().get("detail", "")
    assert status == 422 and said in detail, (status, detail)
    assert "transform: on the sample event, headers: " in detail, detail


def test_a_transform_setting_the_relays_own_header_is_refused_at_create_and_change(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay()
    alpha = _app(relay, "alpha")
    hook = {"name": "hook", "url": f"{sink.url}/hook"}
    for name in RELAYS_OWN:
        made = alpha.post("/v1/downstreams", json={**hook, "transform": _setting(name)})
        _refused(made, f"{name} is the relay's to set")
    made = alpha.post("/v1/downstreams", json={**hook, "transform": _setting("x-key", SPLIT_VALUE)})
    _refused(made, "the value of x-key holds a control character")
    # Only what it sets on the sample event counts: a header set for another type is not seen.
    other = '{"body": {}, "headers": event.type == "task.failed" ? {"host": "x"} : {}}'
    _made(alpha, **{**hook, "name": "other"}, transform=other)

    good = _setting("x-kind", "event.data.kind")
    _made(alpha, **hook, transform=good)
    for name in ("webhook-id", "Content-Type", "signature"):
        changed = alpha.patch("/v1/downstreams/hook", json={"transform": _setting(name)})
        _refused(changed, f"{name} is the relay's to set")
    split = alpha.patch("/v1/downstreams/hook", json={"transform": _setting("x-key", SPLIT_VALUE)})
    _refused(split, "the value of x-key holds a control character")
    # The admin's change is held to it as well; the transform kept is the one that was good.
    admin = relay.api.patch("/v1/downstreams/alpha%2Fhook", json={"transform": _setting("Host")})
    _refused(admin, "Host is the relay's to set")
    assert alpha.get("/v1/downstreams/hook").json()["transform"] == good


def test_in_the_config_file_it_is_one_start_up_line(tmp_path: Path) -> None:
    settings = base_settings(tmp_path)
    hook = {
        "name": "crm",
        "url": "https://hooks.example.com/crm",
        "transform": _setting("webhook-id"),
    }
    settings["downstream"] = [hook]
    path = tmp_path / "relay.toml"
    path.write_text(to_toml(settings))
    result = serve(["--config", str(path)], clean_env(), tmp_path)
    assert_one_line(result, "downstream 'crm': transform: on the sample event, headers: webhook-id")
