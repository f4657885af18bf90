"""The agents' door's rules, without a server: each tool carries exactly the scope of the API
route it does the work of, a key lists only the tools its scopes allow, the submit schema is
the API's with every kind, refusals read as a model can act on them, progress only rises,
and nothing but server.py imports the `mcp` SDK (the core install never loads it)."""

from __future__ import annotations

import ast
import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from receiver.agents import agents_door, resources
from receiver.agents.calls import refusal
from receiver.agents.tools import TOOLS, schemas, tools_for
from receiver.agents.watch import Reporter
from receiver.cli.common import installed_for
from receiver.config import Settings
from receiver.kernel import extras
from receiver.kernel.errors import InvalidRequest, LimitReached, NotFound
from receiver.keys.rules import SCOPES, Caller, Scope
from receiver.lifecycle.rules.task import KIND_NAMES
from tests.api_table import OPERATIONS

AGENTS = Path(__file__).parents[2] / "receiver" / "web" / "agents"


def _caller(*scopes: Scope) -> Caller:
    return Caller("k1", "agent", frozenset(scopes))


def test_each_tool_has_the_scope_of_its_api_route() -> None:
    routes = {(op.path, m): op.scope for op in OPERATIONS for m in op.methods}
    for tool in TOOLS:
        assert tool.route in routes, tool.name
        assert tool.scope == routes[tool.route], tool.name


@pytest.mark.parametrize("scope", SCOPES)
def test_a_key_lists_exactly_the_tools_its_scope_allows(scope: Scope) -> None:
    listed = {t.name for t in tools_for(_caller(scope))}
    expected = {t.name for t in TOOLS if scope in (t.scope, "admin")}
    assert listed == expected
    if scope == "tasks:read":
        assert listed == {"get_task", "wait_for_task", "list_tasks", "share_task"}
    if scope == "downstreams":
        assert listed == {"list_deliveries", "replay_delivery"}  # an app's own deliveries


def test_every_input_schema_is_an_object_and_submit_names_every_kind() -> None:
    every = schemas()
    assert set(every) == {t.name for t in TOOLS}
    for name, schema in every.items():
        assert schema["type"] == "object", name
        json.dumps(schema)  # plain JSON, as the protocol sends it
    text = json.dumps(every["submit_task"])
    for kind in KIND_NAMES:
        assert (
            f'"{kind}"' in text
            or kind in every["submit_task"]["properties"]["request"]["description"]
        ), kind
    assert every["submit_task"]["required"] == ["request"]


def test_refusals_say_what_to_do() -> None:
    limited = refusal(LimitReached("3 tasks open", "max_queued", 15))
    assert limited.data == {
        "error": "limit_reached",
        "detail": "3 tasks open",
        "limit": "max_queued",
        "retry_after": 15,
    }
    assert limited.error is not None
    assert "max_queued" in limited.error and "15 seconds" in limited.error
    assert refusal(NotFound("no such task")).data["error"] == "not_found"
    bad = refusal(InvalidRequest("kind: must be one of ..."))
    assert bad.error == "kind: must be one of ..."


def test_progress_only_rises_and_says_what_the_task_does() -> None:
    sent: list[tuple[float, float | None, str | None]] = []

    async def send(value: float, total: float | None, message: str | None) -> None:
        sent.append((value, total, message))

    reporter = Reporter(send)
    views = [
        {"state": "queued", "queue_position": 2, "progress": None, "copying": False},
        {"state": "queued", "queue_position": 2, "progress": None, "copying": False},
        {"state": "running", "queue_position": None, "progress": 0.0, "copying": False},
        {"state": "running", "queue_position": None, "progress": 0.5, "copying": False},
        {"state": "running", "queue_position": None, "progress": 0.4, "copying": False},
        {"state": "succeeded", "queue_position": None, "progress": 1.0, "copying": True},
    ]

    async def report_all() -> None:
        for view in views:
            await reporter.report(view)

    asyncio.run(report_all())
    values = [v for v, _, _ in sent]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert [m for _, _, m in sent] == [
        "queued, place 2 in the submit queue",
        "running",
        "running",
        "succeeded, copying the renders",
    ]
    assert all(total == 100.0 for _, total, _ in sent)


def test_task_uris_and_the_kinds_resource() -> None:
    assert resources.task_id_of("task://t_1") == "t_1"
    for other in ("relay://kinds", "task://", "task://a/b", "http://x"):
        assert resources.task_id_of(other) is None
    table = json.loads(resources.kinds_table())
    assert [row["kind"] for row in table["kinds"]] == list(KIND_NAMES)
    assert resources.static("relay://kinds") == resources.kinds_table()
    catalog = json.loads(resources.static("relay://events") or "")
    assert {t["type"] for t in catalog["event_types"]} >= {"task.succeeded", "task.failed"}
    assert resources.static("relay://none") is None


def test_only_the_server_module_imports_the_sdk() -> None:
    for path in AGENTS.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 0
        }
        sdk = imported & {"mcp", "mcp_types"}
        assert not sdk or path.name == "server.py", path.name


def _settings_of(mode: str) -> SimpleNamespace:
    """The door's parts, as far as mounting it reads them."""
    return SimpleNamespace(settings=Settings(mcp={"enabled": mode}))


def test_the_door_is_mounted_as_its_switch_and_the_install_say(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert agents_door(_settings_of("off")) is None  # type: ignore[arg-type]
    monkeypatch.setitem(extras.EXTRAS, "mcp", ("a_module_that_is_not_installed",))
    # "auto" on an install without the extra: no door, and nothing of the SDK imported.
    assert agents_door(_settings_of("auto")) is None  # type: ignore[arg-type]
    installed_for(Settings(mcp={"enabled": "auto"}))
    # "on" without it: start-up refuses in one line naming the extra.
    with pytest.raises(SystemExit):
        installed_for(Settings(mcp={"enabled": "on"}))
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and "-e '.[mcp]'" in said[0]
