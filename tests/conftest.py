from __future__ import annotations

import os
import ssl
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from hypothesis import settings

from receiver.devtools.localserver import BackgroundServer
from receiver.devtools.simulator import SimulatorConfig, create_simulator_app
from receiver.devtools.sink import create_sink_app
from tests.event_schemas import assert_events_match_their_schemas
from tests.harness import (
    ADMIN_TOKEN,
    API_KEY,
    OLD_SIGNING_SECRET,
    SECRETS,
    SIGNING_SECRET,
    TASK_HOOK_SECRET,
    WEBHOOK_SECRET,
    PgSchema,
    Relay,
    Simulator,
    Sink,
    relay_settings,
)
from tests.testkit import free_port

# No wall-clock limit on an example: speed belongs in bench/, and on a loaded machine an
# example once took 295 ms against hypothesis's default deadline of 200.
settings.register_profile("relay", deadline=None)
settings.load_profile("relay")


def _one_tls_context() -> None:
    """httpx reads and parses the CA bundle for every client it makes (some 25 ms of CPU:
    an eighth of a CI worker's time, measured), though the tests make thousands of clients
    and talk plain HTTP on loopback: the default context is made once and shared, as an
    SSLContext can be. A client asking for other TLS settings gets its own as before."""
    from httpx._transports import default

    names = vars(default)  # httpx's own name for it, not exported
    make: Callable[..., ssl.SSLContext] = names["create_ssl_context"]
    shared = {trust: make(trust_env=trust) for trust in (True, False)}

    def create(
        verify: ssl.SSLContext | str | bool = True, cert: Any = None, trust_env: bool = True
    ) -> ssl.SSLContext:
        if verify is True and cert is None:
            return shared[trust_env]
        return make(verify=verify, cert=cert, trust_env=trust_env)

    names["create_ssl_context"] = create


_one_tls_context()

if TYPE_CHECKING:
    from tests.kafka import Tansu
    from tests.otlp import Collector
    from tests.pubsub import Emulator

# The stores the suite runs on, in order: SQLite and PostgreSQL unless RELAY_TEST_BACKENDS
# says otherwise. A test whose subject is the store (marked `every_backend`: its statements,
# its locks across replicas, migrations, a database that goes away) runs once on each; any
# other test that takes `storage_url` runs on the first alone. What the two backends answer
# to every statement is held equal by tests/e2e/test_store_parity.py, so a behaviour above
# the store is not tested twice; RELAY_TEST_BACKENDS=postgres runs the whole suite there.
BACKENDS = os.environ.get("RELAY_TEST_BACKENDS", "sqlite,postgres").split(",")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "storage_url" in metafunc.fixturenames:
        metafunc.parametrize("storage_url", backends_for(metafunc.definition), indirect=True)


def backends_for(test: pytest.Item) -> list[str]:
    """Each backend for a test of the store; PostgreSQL for one of replicas (marker
    `postgres`: with no PostgreSQL in the run it skips itself, or `.ci/run` leaves it out);
    else the first backend."""
    if test.get_closest_marker("every_backend"):
        return BACKENDS
    if test.get_closest_marker("postgres") and "postgres" in BACKENDS:
        return ["postgres"]
    return BACKENDS[:1]


@pytest.fixture(scope="session")
def _simulator() -> Iterator[Simulator]:
    server = BackgroundServer(create_simulator_app(SimulatorConfig(api_key=API_KEY, seed=7)))
    server.start()
    sim = Simulator(server)
    yield sim
    sim.close()


@pytest.fixture
def sim(_simulator: Simulator) -> Simulator:
    _simulator.reset()
    return _simulator


@pytest.fixture
def make_sink(request: pytest.FixtureRequest) -> Iterator[Callable[[], Sink]]:
    sinks: list[Sink] = []

    def make() -> Sink:
        server = BackgroundServer(create_sink_app())
        server.start()
        sinks.append(Sink(server))
        return sinks[-1]

    yield make
    for sink in sinks:
        try:
            received = sink.received()
        except (httpx.HTTPError, RuntimeError):
            received = []  # the test stopped it
        sink.close()
        # An earlier release's events are checked by that release, not against today's schemas.
        if request.node.get_closest_marker("older_release_events") is None:
            assert_events_match_their_schemas(received)


@pytest.fixture
def sink(make_sink: Callable[[], Sink]) -> Sink:
    return make_sink()


@pytest.fixture(scope="session")
def tansu() -> Iterator[Tansu]:
    """A Kafka-protocol broker on loopback, once per worker (tests/kafka.py)."""
    from tests.kafka import Tansu  # the kafka extra: the unit tests run without it

    broker = Tansu()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[Emulator]:
    """Google's Pub/Sub emulator on loopback, once per worker (tests/pubsub.py); a test
    that takes it skips where gcloud is not installed."""
    from tests.pubsub import Emulator  # the brokers' clients: the unit tests run without them

    emulator = Emulator()
    yield emulator
    emulator.close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    """An OTLP/HTTP trace receiver on loopback (`collector.env()` points a relay at it)."""
    from tests.otlp import Collector  # the otel extra: the unit tests run without it

    receiver = Collector()
    yield receiver
    receiver.close()


@pytest.fixture
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'relay.db'}"
        return
    schema = PgSchema()
    yield schema.url
    schema.drop()


def relay_env(**extra: str) -> dict[str, str]:
    return {
        "COMETAPI_KEY": API_KEY,
        "RECEIVER_ADMIN_TOKEN": ADMIN_TOKEN,
        "RECEIVER_SECRET": SIGNING_SECRET,
        "RECEIVER_SECRET_OLD": OLD_SIGNING_SECRET,
        "HOOK_SECRET": WEBHOOK_SECRET,
        "RECEIVER_WEBHOOK_SECRET": TASK_HOOK_SECRET,
        **extra,
    }


def webhook(sink: Sink, name: str = "hook", **extra: Any) -> dict[str, Any]:
    """A signed webhook downstream pointing at `sink` under /<name>."""
    return {
        "name": name,
        "url": f"{sink.url}/{name}",
        "format": "webhook",
        "secret_env": "HOOK_SECRET",
        "timeout": 2.0,  # below the tests' delivery lease
        **extra,
    }


MakeRelay = Callable[..., Relay]


@pytest.fixture
def make_relay(
    request: pytest.FixtureRequest, tmp_path: Path, storage_url: str, sim: Simulator
) -> Iterator[MakeRelay]:
    """Start relays on this test's store; each log is checked for secrets at the end, and
    its last lines shown when the test failed (a loaded CI run's only witness)."""
    relays: list[Relay] = []

    def make(
        downstreams: list[dict[str, Any]] | None = None,
        start: bool = True,
        env: dict[str, str] | None = None,
        **overrides: Any,
    ) -> Relay:
        port = free_port()
        settings = relay_settings(
            storage_url,
            f"http://127.0.0.1:{port}",
            sim.url,
            downstream=downstreams or [],
            **overrides,
        )
        relay = Relay(tmp_path, settings, relay_env(**(env or {})))
        relays.append(relay)
        return relay.start() if start else relay

    yield make
    for relay in relays:
        relay.close()
    failed = request.node.stash.get(FAILED_CALL, False)
    for relay in relays:
        log = relay.log()
        if failed:
            tail = "\n".join(log.splitlines()[-LOG_TAIL_LINES:])
            print(f"--- relay {relay.url}: its log's last {LOG_TAIL_LINES} lines ---\n{tail}")
        leaked = [s for s in SECRETS if s in log]
        assert not leaked, f"secret in log of relay {relay.url}"
        assert "/callbacks/runway/eyJ" not in log, "callback token in log"


# Whether a test's call failed, for fixtures that say more at their teardown.
FAILED_CALL = pytest.StashKey[bool]()
LOG_TAIL_LINES = 60


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[FAILED_CALL] = True
    return report


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Two tests with one id would pass unseen: xdist runs only one of them. Every test
    under tests/fault/ is a fault test, marked or not, so .ci/run runs it in the fault step;
    a test of PostgreSQL skips when the run names SQLite alone."""
    without_postgres = pytest.mark.skip(reason="RELAY_TEST_BACKENDS names no postgres")
    for item in items:
        if item.nodeid.startswith("tests/fault/"):
            item.add_marker(pytest.mark.fault)
        # SQLite alone asked for: nothing connects to PostgreSQL, whatever is listening.
        if "postgres" not in BACKENDS and item.get_closest_marker("postgres"):
            item.add_marker(without_postgres)
    repeated = [nodeid for nodeid, n in Counter(i.nodeid for i in items).items() if n > 1]
    if repeated:
        raise pytest.UsageError(f"{len(repeated)} test ids name more than one test: {repeated}")
    # The slowest first: xdist hands tests out in this order, and a minute-long test handed
    # out last keeps one worker busy while the others have finished.
    items.sort(key=lambda item: not item.nodeid.startswith(SLOWEST))


# The tests that took longest in a measured CI run (30-90 s each on a loaded machine).
SLOWEST = (
    "tests/e2e/test_packaging.py",
    "tests/e2e/test_operator.py::test_cli_inspects_and_replays",
    "tests/e2e/test_claims_end_to_end.py::test_a_flood_of_callbacks",
    "tests/e2e/test_agents_door.py::test_a_small_finished_image",
    "tests/e2e/test_poll_budget.py::test_a_burst_is_polled",
    "tests/e2e/test_trace_callback.py",  # five callbacks traced one after another
    "tests/e2e/test_alerts.py",  # quiet windows of 20 s waited out
    "tests/browser/test_console.py",
    "tests/fault/test_fuzz.py",
    "tests/fault/test_crash.py::test_sigkill_loop_loses_nothing",
    "tests/fault/test_secret_leaks.py::test_echoed_keys",
    "tests/fault/test_cheap_requests.py::test_300_idle_streams",
    "tests/fault/test_probe_directory.py::test_a_thousand_runtime_downstreams",
)


# .ci/run checks that every test it collected ran; the count is written here, during the run
# itself, rather than by a second collection (which cost each step its whole import again).
COLLECTED_FILE = os.environ.get("RELAY_TEST_COLLECTED_FILE")


def _record_collected(count: int) -> None:
    if COLLECTED_FILE:
        Path(COLLECTED_FILE).write_text(f"{count}\n")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Without xdist, or in a worker: what was selected to run (a worker's count is the same
    as the controller's, which writes it again below)."""
    if not hasattr(session.config, "workerinput"):
        _record_collected(len(session.items))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """Under xdist the controller collects nothing itself: each worker reports its ids."""
    _record_collected(len(ids))
