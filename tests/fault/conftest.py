"""Fixtures of the fault suite: the figures file, extra simulators, and the leak scan.

Every relay started by a fault test is wrapped so that the callback tokens it issues are
collected; at the end of each test its log is scanned for the fixed secrets and for every
token issued so far in the session, and so is the test's captured output. A last sweep at
the end of the session rescans every relay log against every token and records the figure.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from receiver.devtools.localserver import BackgroundServer
from receiver.devtools.simulator import SimulatorConfig, create_simulator_app
from tests.conftest import BACKENDS, MakeRelay
from tests.fault.support import FIGURES_ENV, LEDGER, Figures
from tests.harness import API_KEY, SECRETS, Relay, Simulator


@pytest.fixture(scope="session")
def figures(tmp_path_factory: pytest.TempPathFactory) -> Figures:
    path = os.environ.get(FIGURES_ENV)
    target = Path(path) if path else tmp_path_factory.getbasetemp() / "fault-figures.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    LEDGER.figures = target
    return Figures(target)


class SimFactory:
    """Extra simulators with their own timings, e.g. short task lives for the kill loop."""

    def __init__(self) -> None:
        self.sims: list[Simulator] = []

    def __call__(self, **config: Any) -> Simulator:
        server = BackgroundServer(create_simulator_app(SimulatorConfig(api_key=API_KEY, **config)))
        server.start()
        self.sims.append(Simulator(server))
        return self.sims[-1]


@pytest.fixture
def make_sim() -> Iterator[SimFactory]:
    factory = SimFactory()
    yield factory
    for sim in factory.sims:
        sim.close()


def _recording(relay: Relay) -> None:
    """Note the callback token of every task this relay is asked to submit."""
    submit = relay.submit

    def recorded(**body: Any) -> httpx.Response:
        response = submit(**body)
        LEDGER.note_response(response)
        return response

    relay.submit = recorded  # type: ignore[method-assign]


@pytest.fixture
def make_relay(make_relay: MakeRelay, sim: Simulator, make_sim: SimFactory) -> Iterator[MakeRelay]:
    """The suite's make_relay, plus: collect issued tokens, scan the logs for them."""
    relays: list[Relay] = []

    def make(*args: Any, **kwargs: Any) -> Relay:
        relay = make_relay(*args, **kwargs)
        _recording(relay)
        relays.append(relay)
        return relay

    yield make
    # Whatever reached a simulator carries its callback URL, even if the client never saw it.
    for upstream in (sim, *make_sim.sims):
        LEDGER.note_sim_tasks(upstream.tasks())
    for relay in relays:
        relay.close()
    leaks = LEDGER.scan_relays(relays)
    assert not leaks, f"relay logs hold {dict(leaks)}"


@pytest.fixture(scope="session", autouse=True)
def _leak_sweep(figures: Figures) -> Iterator[None]:
    yield
    leaks: Counter[str] = Counter()
    lines = 0
    for path in sorted(LEDGER.logs):
        text = path.read_text(errors="replace") if path.exists() else ""
        lines += text.count("\n")
        leaks += LEDGER.leaks(text)
    figures.record(
        "secrets",
        backends=",".join(BACKENDS),
        relay_logs=len(LEDGER.logs),
        log_lines_scanned=lines,
        output_lines_scanned=LEDGER.output_lines,
        fixed_secrets=len(SECRETS),
        callback_tokens=len(LEDGER.tokens),
        occurrences=sum(leaks.values()) + LEDGER.output_leaks,
    )
    assert not leaks and not LEDGER.output_leaks, f"leaked: {dict(leaks)}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Fail a test whose captured output (or failure text) shows a secret or a token."""
    report = yield
    text = "\n".join(content for _, content in report.sections)
    if report.when == "teardown":
        LEDGER.output_lines += text.count("\n")
    text += "\n" + report.longreprtext
    leaks = LEDGER.leaks(text)
    if leaks:
        LEDGER.output_leaks += sum(leaks.values())
        report.outcome = "failed"
        report.longrepr = f"captured output of {item.nodeid} holds {dict(leaks)}"
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if LEDGER.figures is not None and LEDGER.figures.exists():
        terminalreporter.write_line(f"fault figures appended to {LEDGER.figures}")
