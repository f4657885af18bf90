"""The install's extras: each optional feature names an extra that pyproject.toml has, and
a configured feature whose extra is missing is refused in one line naming it."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

import pytest

from receiver.config.downstream import ManagedDownstreamConfig, require_extras
from receiver.kernel import extras
from receiver.kernel.errors import ConfigError

PYPROJECT = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
OPTIONAL = PYPROJECT["project"]["optional-dependencies"]
OWN = {"mqtt": {"topic": "relay/events"}}  # a setting a format cannot be without


def downstreams(formats: set[str]) -> list[ManagedDownstreamConfig]:
    """A downstream of each format, at its format's stand-in URL."""
    return [
        ManagedDownstreamConfig.stand_in({"name": fmt, "format": fmt, **OWN.get(fmt, {})})
        for fmt in formats
    ]


def test_every_feature_names_an_extra_of_the_package_and_all_holds_them() -> None:
    assert set(extras.EXTRAS) <= set(OPTIONAL)
    assert OPTIONAL["all"] == ["runway-relay[postgres,s3,brokers,aws,pubsub,otel,cel,mcp]"]
    assert OPTIONAL["brokers"] == ["runway-relay[amqp,nats,mqtt,redis,kafka]"]
    assert "runway-relay[all]" in OPTIONAL["dev"]


def test_the_core_needs_none_of_the_optional_libraries() -> None:
    core = " ".join(PYPROJECT["project"]["dependencies"])
    optional = (
        "psycopg",
        "obstore",
        "aio-pika",
        "nats-py",
        "aiomqtt",
        "redis",
        "aiokafka",
        "aiobotocore",
        "google-auth",
    )
    for name in (*optional, "opentelemetry", "mcp", "common-expression-language"):
        assert name not in core


@pytest.mark.parametrize(
    ("extra", "storage", "media", "formats"),
    [
        ("postgres", "postgresql://relay@127.0.0.1/relay", None, set()),
        ("s3", "sqlite:///relay.db", "s3", set()),
        ("mqtt", "sqlite:///relay.db", None, {"webhook", "mqtt"}),
        ("kafka", "sqlite:///relay.db", None, {"kafka"}),
        ("aws", "sqlite:///relay.db", None, {"kinesis"}),
        ("aws", "sqlite:///relay.db", None, {"webhook", "sqs"}),
        ("aws", "sqlite:///relay.db", None, {"s3"}),  # the s3 *format* needs aws, not s3
        ("pubsub", "sqlite:///relay.db", None, {"webhook", "pubsub"}),
    ],
)
def test_a_configured_feature_without_its_extra_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, extra: str, storage: str, media: str | None, formats: set[str]
) -> None:
    monkeypatch.setitem(extras.EXTRAS, extra, ("a_module_that_is_not_installed",))
    # The package is on no index: the command is the one that works from a clone.
    wanted = rf"pip install -c constraints.txt -e '\.\[{extra}\]' \(in the relay's clone\)$"
    with pytest.raises(ConfigError, match=wanted):
        extras.require_configured(storage, media)
        require_extras(downstreams(formats))


def test_an_extra_whose_package_is_missing_is_not_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A dotted module (google.auth) whose package is not there either: missing, not an
    error (the core install has no `google` package at all)."""
    monkeypatch.setitem(extras.EXTRAS, "pubsub", ("a_package_that_is_not_installed.auth",))
    assert not extras.installed("pubsub")
    with pytest.raises(ConfigError, match=r"needs the pubsub extra"):
        require_extras(downstreams({"pubsub"}))


def test_the_default_relay_needs_no_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for extra in list(extras.EXTRAS):
        monkeypatch.setitem(extras.EXTRAS, extra, ("a_module_that_is_not_installed",))
    extras.require_configured("sqlite:///relay.db", "local")
    require_extras(downstreams({"webhook", "slack", "discord"}))


def test_receiver_version_names_the_release_the_commit_and_the_extras_installed() -> None:
    """What an image scan or a bug report reads: `receiver version --json`, one object."""
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "receiver", "version", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = json.loads(done.stdout)
    assert found["release"] and found["release"] != "unknown"
    features = {e for e in extras.EXTRAS if extras.installed(e)}
    # Traces: an extra of their own, which no config key asks for.
    from receiver.cli.version import TRACES, TRACES_MODULES

    def found_module(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # its parent package is not there
            return False

    # The SDK and its exporter, not the API alone (a core dependency's).
    traces = {TRACES} if all(found_module(m) for m in TRACES_MODULES) else set()
    assert set(found["extras"]) == features | traces
    # From this checkout: its commit (the image names it in $RUNWAY_RELAY_COMMIT).
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False, timeout=30
    )
    if head.returncode == 0:
        assert found["commit"] == head.stdout.strip()
