"""The pure tests: the library called directly, with no process, server, relay, simulator,
sink or PostgreSQL. They carry the `unit` marker, so .ci/run can run them first and alone,
and leave them out of the end-to-end run. The real things of tests/conftest.py are refused
here: a test that needs one belongs in tests/e2e/."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

HERE = Path(__file__).parent

# Tests of what a dev tool reads (the CNCF SDK, a PromQL parser): not collected where the
# tool is not installed (the core install's checks), so that what is collected all runs.
DEV_TOOLS = {
    "test_cloudevents.py": "cloudevents",
    "test_promql_check.py": "promql_parser",
    "test_dashboard_queries.py": "promql_parser",
}
collect_ignore = [f for f, tool in DEV_TOOLS.items() if importlib.util.find_spec(tool) is None]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.unit)


def _refuse(name: str) -> None:
    pytest.fail(f"the unit tests start nothing: a test that needs `{name}` goes in tests/e2e/")


@pytest.fixture
def sim() -> None:
    _refuse("sim")


@pytest.fixture
def sink() -> None:
    _refuse("sink")


@pytest.fixture
def make_sink() -> None:
    _refuse("make_sink")


@pytest.fixture
def storage_url() -> None:
    _refuse("storage_url")


@pytest.fixture
def make_relay() -> None:
    _refuse("make_relay")
