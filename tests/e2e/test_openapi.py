"""The API's OpenAPI description, checked against the running relay by schemathesis.

One relay (SQLite, the simulator with its own CDN, media mirrored) serves every test here.
schemathesis reads `GET /openapi.json` from it and sends each operation a few generated
requests, valid and not, with the admin token: no answer may be a 5xx, and every answer
must be one the document describes (status, content type, body). The document must be
valid OpenAPI 3.1, and every route the application serves but the console's must be in it.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance
from starlette.routing import Mount, Route

from receiver.api.routers import openapi
from receiver.api.routers import routes as api_routes
from receiver.devtools.localserver import BackgroundServer
from receiver.devtools.sink import create_sink_app
from receiver.downstreams import api as downstreams
from receiver.downstreams.rows import DownstreamHealth
from receiver.kernel.errors import RelayError
from receiver.kernel.http import models as m
from receiver.kernel.http.answers import error_body
from receiver.kernel.http.errors import answer_for
from receiver.keys.rules import SCOPES
from receiver.lifecycle.rules.records import Event, SubmitAttempt, Task
from receiver.lifecycle.rules.task import FRONT_DOOR, KINDS
from receiver.outbox.rules.delivery import Attempt, Delivery
from receiver.tasks.rules import answers
from receiver.tasks.submit import SPACE
from tests.api_table import OPERATIONS
from tests.conftest import relay_env, webhook
from tests.harness import (
    ADMIN_TOKEN,
    SECRETS,
    Relay,
    Simulator,
    Sink,
    image_to_video,
    relay_settings,
    settled,
    video2video,
)
from tests.testkit import free_port

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CALLBACK = "/callbacks/runway/{token}"
STREAM = "/v1/stream"  # never ends: checked on its own below
RUNWAY_CREATE = tuple(f"/runwayml/v1/{kind}" for kind in FRONT_DOOR)
# Kinds whose bodies go to CometAPI as sent: any JSON in them is described, but the relay's
# one rule for every body (receiver/kernel/http/body.py) still refuses an integer past 64
# bits or a nesting past 32 levels, which JSON Schema cannot say of any value at all.
PASSED_ON = {name for name in KINDS if name != "video2video"}
SEEDED = "seeded-by-test-openapi"  # in the prompts of the two tasks made before the fuzzing


@dataclasses.dataclass
class World:
    relay: Relay
    ok: dict[str, Any]  # a video2video task that succeeded, its files mirrored
    failed: dict[str, Any]  # an image_to_video task that failed
    token: str  # the callback token of `ok`
    app_key: str  # an API key with every scope but `admin`


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("openapi")
    sim = Simulator.serve(seed=3)
    sink = Sink(BackgroundServer(create_sink_app()))
    sink.server.start()
    port = free_port()
    settings = relay_settings(
        f"sqlite:///{tmp / 'relay.db'}",
        f"http://127.0.0.1:{port}",
        sim.url,
        downstream=[webhook(sink)],
        media={"enabled": True, "dir": str(tmp / "media"), "allow_private_networks": True},
    )
    relay = Relay(tmp, settings, relay_env()).start()
    try:
        submitted = relay.submit(**video2video(prompt=f"{SEEDED} pixel-art")).json()
        failing = relay.submit(**image_to_video(promptText=f"FAIL {SEEDED}")).json()["id"]
        mirrored = relay.wait_task(
            submitted["id"],
            lambda t: settled(t) and (t["media"] or {}).get("status") == "mirrored",
        )
        token = submitted["callback_url"].rsplit("/", 1)[1]
        app_scopes = [s for s in SCOPES if s != "admin"]
        made = relay.api.post("/v1/keys", json={"name": "fuzzed-app", "scopes": app_scopes})
        app_key = made.json()["key"]
        yield World(relay, mirrored, relay.wait_task(failing, settled), token, app_key)
    finally:
        relay.close()
        sim.close()
        sink.close()
    log = relay.log()
    assert not [s for s in SECRETS if s in log], "a secret in the relay's log"
    assert "Exception in ASGI application" not in log


# The document the relay serves is built from this code; the test below checks that the
# running relay serves this very document. (Loaded here, at collection, rather than from a
# fixture: schemathesis's fixture loader reaches into a pytest internal that pytest 9 removed.)
api_schema = schemathesis.openapi.from_dict(
    openapi(),
    config=schemathesis.Config.from_dict(
        {
            "generation": {
                # 12 made the 149 operations x roles 1,260 s of CI's workers.
                "max-examples": 5,
                "deterministic": True,
                "no-shrink": True,
                # The API ignores query parameters it does not know, as most HTTP APIs do,
                # and OpenAPI has no way to describe a closed query: no made-up names.
                "allow-extra-parameters": False,
            },
            "request-timeout": 10,
        }
    ),
)


def _refused_at_every_door(value: Any) -> bool:
    """A body with an integer past 64 bits or a NUL in any string or key: every door refuses
    it (docs/api-and-cli.md), which no JSON Schema of an open object can say."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return not -(2**63) <= value < 2**64
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_refused_at_every_door(k) or _refused_at_every_door(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_refused_at_every_door(v) for v in value)
    return False


# The `headers` parametrization is what gives each operation a test id of its own: without
# one, schemathesis names its items `test[GET /v1/tasks]` but pytest 9.2 builds their ids
# from the bare function name, so all of them share one and xdist runs a single one.
@api_schema.exclude(path=STREAM).parametrize()
@pytest.mark.parametrize("who", ["admin", "app"])
def test_every_operation_answers_as_described(case: Any, who: str, world: World) -> None:
    # Also as an app's key, which holds every scope but `admin`: the routes it may not use
    # answer their documented 403, and its tasks are its own.
    key = ADMIN_TOKEN if who == "admin" else world.app_key
    headers = {"Authorization": f"Bearer {key}"}
    scoped_out = who == "app" and case.operation.path.startswith(("/v1/deliveries", "/v1/keys"))
    if case.operation.path == CALLBACK:
        # A made-up token only ever gets its 403 (checked below): with a real one the
        # generated bodies reach the parser and the store.
        case.path_parameters = {"token": world.token}
    # The token given here, not in the config: schemathesis then knows it as valid, and
    # checks that the relay refuses the same request without it and with a wrong one.
    # Runway's shape answers a create that CometAPI refuses with a 400, as Runway does:
    # which models and ratios exist is CometAPI's to judge, so a schema-valid body may be
    # refused by design there.
    judged_upstream = case.operation.path.startswith(RUNWAY_CREATE) or (
        case.operation.path == "/v1/tasks"
        and isinstance(case.body, dict)
        and str(case.body.get("kind")) in PASSED_ON
    )
    # A downstream's settings have rules across fields that JSON Schema cannot state (the
    # format decides the URL's scheme and which target field it needs; the timeout must
    # stay under the delivery lease): a schema-valid body may get its 422 there.
    across_fields = case.operation.path.startswith("/v1/downstreams") and case.method in (
        "POST",
        "PATCH",
    )
    # Runway's usage window: `beforeDate` after `startDate`, at most 90 days on.
    across_fields = across_fields or case.operation.path == "/runwayml/v1/organization/usage"
    # A portal link: the admin must name the app, which an app's key needs not (one body,
    # two callers); and its `ttl_seconds` is an integer as written.
    across_fields = across_fields or case.operation.path == "/v1/portal-links"
    # An app's alert downstream: one of its own downstreams, whose names no schema lists;
    # and the admin token has no app of its own to read or name one for.
    across_fields = across_fields or case.operation.path == "/v1/app/alerts"
    # A list's `cursor` is one the relay gave (opaque to JSON Schema): any other is its 422.
    across_fields = across_fields or (
        case.operation.path == "/v1/downstreams" and case.method == "GET"
    )
    # An app's task-webhook secret: the admin token has no app to read or rotate it for.
    across_fields = across_fields or case.operation.path.startswith("/v1/webhooks/default/")
    # A key's and an app's `weight` and limits are integers as written: JSON Schema's
    # `integer` takes 18.0 too, which the relay refuses on purpose (`"3"`, `true` and `2.0`
    # were read as counts).
    integers_as_written = (case.operation.path, case.method) in (
        ("/v1/keys", "POST"),
        ("/v1/apps", "POST"),
        ("/v1/apps/{app}", "PATCH"),
    )
    refused_anywhere = _refused_at_every_door(case.body)
    # A CEL expression is text to JSON Schema; whether it parses is the relay's to judge.
    refused_anywhere |= isinstance(case.body, dict) and case.body.get("webhook_filter") is not None
    # /metrics is served on its own port (server.metrics_listen), as documented.
    metrics = case.operation.path == "/metrics"
    case.call_and_validate(
        base_url=str(world.relay.metrics.base_url).rstrip("/") if metrics else world.relay.url,
        headers=headers,
        excluded_checks=[positive_data_acceptance]
        if judged_upstream or across_fields or scoped_out or integers_as_written or refused_anywhere
        else None,
    )


def test_the_relay_serves_a_valid_openapi_3_1_document(world: World) -> None:
    served = world.relay.anon.get("/openapi.json")
    assert served.status_code == 200 and served.json() == openapi()
    assert api_schema.raw_schema["openapi"] == "3.1.0"
    api_schema.validate()


def test_answers_to_real_data_are_as_described(world: World) -> None:
    """What generated requests cannot reach: real ids, a mirrored file, the stream."""

    def check(path: str, method: str, headers: dict[str, str] | None = None, **parts: Any) -> Any:
        case = api_schema[path][method].Case(**parts)
        return case.call_and_validate(base_url=world.relay.url, headers=headers or AUTH)

    task_id, video = world.ok["id"], world.ok["media"]["files"][0]
    detail = check("/v1/tasks/{task_id}", "GET", path_parameters={"task_id": task_id}).json()
    assert detail["events"] and detail["deliveries"] and detail["attempts"]
    assert check("/v1/tasks/{task_id}", "GET", path_parameters={"task_id": world.failed["id"]})
    # video2video has no cancel upstream; an ended task cannot be cancelled: 409 both.
    for ended in (task_id, world.failed["id"]):
        gone = check("/v1/tasks/{task_id}", "DELETE", path_parameters={"task_id": ended})
        assert gone.status_code == 409
    page = check("/v1/tasks", "GET", query={"limit": 1, "q": SEEDED}).json()
    assert page["next"] == world.failed["id"] and len(page["tasks"]) == 1
    query = {"limit": 1, "q": SEEDED, "before": page["next"]}
    rest = check("/v1/tasks", "GET", query=query).json()
    assert [t["id"] for t in rest["tasks"]] == [task_id] and rest["next"] is None
    query = {"q": SEEDED.upper(), "kind": "video2video", "since": "2000-01-01T00:00:00Z"}
    assert [t["id"] for t in check("/v1/tasks", "GET", query=query).json()["tasks"]] == [task_id]
    delivery = world.ok["deliveries"][0]["id"]
    replayed = check(
        "/v1/deliveries/{delivery_id}/replay", "POST", path_parameters={"delivery_id": delivery}
    )
    assert replayed.json() == {"replayed": 1}
    assert check("/v1/deliveries/replay", "POST", query={"downstream": "hook"}).status_code == 200
    for action in ("disable", "enable"):
        answer = check(
            f"/v1/downstreams/{{name}}/{action}", "POST", path_parameters={"name": "hook"}
        )
        assert answer.status_code == 200
    token = {"token": video["url"].rsplit("/", 1)[1]}
    assert check("/media/{token}", "GET", path_parameters=token).status_code == 200
    assert check("/media/{token}", "HEAD", path_parameters=token).status_code == 200
    part = check("/media/{token}", "GET", path_parameters=token, headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and len(part.content) == 10
    past = check(
        "/media/{token}", "GET", path_parameters=token, headers={"Range": "bytes=999999999-"}
    )
    assert past.status_code == 416
    for path in ("/media/{token}", CALLBACK):
        method = "GET" if path.startswith("/media") else "POST"
        refused = check(path, method, path_parameters={"token": "forged.token.x"})
        assert refused.status_code == 403


def test_the_stream_is_as_described(world: World) -> None:
    described = api_schema.raw_schema["paths"][STREAM]["get"]["responses"]
    assert "text/event-stream" in described["200"]["content"]
    assert set(described) >= {"200", "400", "401"}
    url = f"{world.relay.url}{STREAM}"
    refused = httpx.get(url)
    assert refused.status_code == 401 and m.ErrorAnswer.model_validate(refused.json())
    assert httpx.get(url, headers=AUTH, params={"since": "nan"}).status_code == 400
    with httpx.stream(
        "GET", url, headers=AUTH, params={"task_id": world.ok["id"], "since": 0}
    ) as s:
        assert s.status_code == 200
        assert s.headers["content-type"].startswith("text/event-stream")
        first = next(s.iter_lines())
        assert first.startswith("retry:")


def test_every_route_is_described(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from receiver.app.build import build_service, create_app
    from receiver.config import load
    from tests.testkit import to_toml

    for name, value in relay_env().items():
        monkeypatch.setenv(name, value)
    config_path = tmp_path / "relay.toml"
    settings = relay_settings(f"sqlite:///{tmp_path / 'r.db'}", "http://127.0.0.1:1", "http://x")
    config_path.write_text(to_toml(settings))
    app = create_app(build_service(load(str(config_path))))
    served = set()
    # The API's routes stand in one place until its first request (receiver/app/asgi.py).
    routes = [r for r in app.routes if isinstance(r, (Mount, Route))]
    assert len(app.routes) - len(routes) == 1
    for route in [*routes, *api_routes()]:
        if isinstance(route, Mount) and route.path in ("/console", "/portal"):
            continue  # the console's and the apps' portal's HTML pages are not the API
        if route.path == "/mcp":
            continue  # the agents' door speaks MCP (JSON-RPC), described in docs/agents.md
        assert isinstance(route, Route), route
        if route.path in ("/runwayml/v1/{route:path}", "/runwayml/uploads/{token}"):
            continue  # what no documented route matches; an upload's file (multipart)
        served |= {(route.path_format, method) for method in route.methods or ()}
    described = {(op.path, method) for op in OPERATIONS for method in op.methods}
    # Starlette answers HEAD wherever GET is served.
    assert served - {(p, "HEAD") for p, _ in served} == described - {
        (p, "HEAD") for p, _ in described
    }


def _blank(record: type) -> Any:
    """An instance with every field None, but the dicts its properties read."""
    values: dict[str, Any] = {f.name: None for f in dataclasses.fields(record)}
    dicts = {name: {} for name in ("request", "routing") if name in values}
    return record(**{**values, **dicts})


@pytest.mark.parametrize(
    ("record", "model"),
    [
        (Task, answers.TaskSummary),
        (Event, answers.EventSummary),
        (Delivery, answers.DeliverySummary),
        (Attempt, answers.AttemptSummary),
        (SubmitAttempt, answers.SubmitAttemptSummary),
    ],
)
def test_each_answer_is_read_from_its_record(record: type, model: type[m.Answer]) -> None:
    """An answer is its record read by attributes: a field added to the model and not to
    the record fails here."""
    blank = _blank(record)
    assert [name for name in model.model_fields if not hasattr(blank, name)] == []


def test_a_downstreams_health_is_its_model() -> None:
    """A field added to the health and not to its model (or the reverse) fails here; its
    `health` word is the downstreams feature's (receiver/downstreams/directory.py)."""
    blank = _blank(DownstreamHealth)
    assert {*blank.summary(), "health"} == set(downstreams.DownstreamHealth.model_fields)


def test_every_refusal_is_an_error_answer() -> None:
    for kind in _subclasses(RelayError):
        exc = kind(*["why"] * _required_arguments(kind))
        _status, code = answer_for(exc)
        m.ErrorAnswer.model_validate(error_body(code, exc.detail, **exc.extra))


def test_parameters_are_read_as_described() -> None:
    read = answers.TaskListParams.model_validate
    assert read({"since": "1767225600"}).since == read({"since": "2026-01-01T00:00:00Z"}).since
    assert read({"since": "2026-01-01T01:00:00+01:00"}).since == 1767225600
    for wrong in ({"since": "nan"}, {"since": "soon"}, {"limit": "0"}, {"q": "a\x00b"}):
        with pytest.raises(ValueError):
            read(wrong)


def test_blank_means_what_python_strips() -> None:
    """The document's pattern for a required text, and the check behind it, agree."""
    spaces = [c for c in map(chr, range(0x110000)) if c.isspace()]
    assert [c for c in spaces if re.fullmatch(f"[{SPACE}]", c)] == spaces
    assert sum(1 for c in map(chr, range(0x3100)) if re.fullmatch(f"[{SPACE}]", c)) == len(spaces)


def _required_arguments(kind: type) -> int:
    """How many positional arguments the error takes without a default (at least the
    message)."""
    parameters = list(inspect.signature(kind).parameters.values())
    return max(
        1, sum(1 for p in parameters if p.default is p.empty and p.kind == p.POSITIONAL_OR_KEYWORD)
    )


def _subclasses(kind: type) -> Iterator[type]:
    for sub in kind.__subclasses__():
        yield sub
        yield from _subclasses(sub)
