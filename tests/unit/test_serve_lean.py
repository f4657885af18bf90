"""`receiver serve` starts lean: building its app loads nothing of the MCP SDK (the agents'
door imports and builds it at its first request: receiver/agents/__init__.py), though the
door is mounted; nor FastAPI and the API's routes (built at the API's first request), the
console and the portal (built at their first page: receiver/app/asgi.py), aiohttp (imported
with the first outgoing session) or rich (hidden from structlog:
receiver/kernel/observability/logs.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from receiver.kernel.extras import installed

# In a fresh interpreter: the service and its app built as `receiver serve` builds them.
PROBE = """
import json, sys
from receiver.app.build import build_service, create_app
from receiver.cli.runners import _load_config

config, _ = _load_config(sys.argv[1])
app = create_app(build_service(config))
paths = [getattr(route, "path", "") for route in app.routes]
print(json.dumps({"modules": sorted(sys.modules), "paths": paths}))
"""


def _built(tmp_path: Path, more: str = "") -> dict[str, Any]:
    """What PROBE saw, with `more` of the config file after its store."""
    config = tmp_path / "relay.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{tmp_path}/relay.db"\n{more}')
    env = {
        **os.environ,
        "COMETAPI_KEY": "sk-lean-" + "0" * 20,
        "RECEIVER_ADMIN_TOKEN": "admin-lean-" + "1" * 20,
        "RECEIVER_SECRET": "sign-lean-" + "2" * 32,
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(config)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=tmp_path,
    ).stdout
    found: dict[str, Any] = json.loads(out.splitlines()[-1])
    return found


def test_building_the_app_loads_nothing_it_needs_later(tmp_path: Path) -> None:
    found = _built(tmp_path)
    # Mounted where the extra is installed (`enabled` is "auto"); the core install has none.
    assert ("/mcp" in found["paths"]) == installed("mcp")
    sdk = sorted({m.split(".")[0] for m in found["modules"]} & {"mcp", "mcp_types"})
    assert sdk == []
    assert "receiver.agents.server" not in found["modules"]
    # The console and the portal mounted, built when visited; no HTTP client, no rich.
    assert {"/console", "/portal"} <= set(found["paths"])
    faces = [m for m in found["modules"] if m.startswith(("receiver.console", "receiver.portal"))]
    assert faces == []
    assert sorted({m.split(".")[0] for m in found["modules"]} & {"aiohttp", "rich"}) == []
    # The probes answer without FastAPI; the API is imported at its first request.
    assert {"/healthz", "/livez", "/readyz", "/metrics"} <= set(found["paths"])
    assert sorted({m.split(".")[0] for m in found["modules"]} & {"fastapi"}) == []
    assert "receiver.api.routers" not in found["modules"]


# A downstream of several kinds: the relay reads their settings from the destinations'
# metadata and loads their providers to check them, never a client before its first use.
DOWNSTREAMS = """
[[downstream]]
name = "orders"
url = "https://hooks.example.com/runway"
ordering = "task"

[[downstream]]
name = "team-slack"
url = "https://hooks.slack.com/services/T0/B0/x"
format = "slack"

[[downstream]]
name = "events"
url = "kafka://127.0.0.1:9/relay"
format = "kafka"

[[downstream]]
name = "queue"
url = "https://sqs.eu-west-1.amazonaws.com/123456789012/relay"
format = "sqs"

[[downstream]]
name = "bus"
url = "nats://127.0.0.1:9"
format = "nats"
subject = "relay.{state}"

[[downstream]]
name = "polled"
format = "pull"
"""
# The libraries a destination's client imports, and the destinations' modules no
# configured downstream is of (their providers load only for a downstream of theirs).
CLIENTS = {"aiohttp", "aiokafka", "aiobotocore", "botocore", "nats", "aio_pika", "redis"}
CLIENTS |= {"aiomqtt", "paho", "google", "yarl"}
UNCONFIGURED = {"amqp", "mqtt", "redis", "pubsub", "sns", "s3", "discord", "telegram"}


@pytest.mark.skipif(
    not all(installed(e) for e in ("kafka", "aws", "nats")),
    reason="the core install: its kafka, sqs and nats downstreams need their extras",
)
def test_downstreams_of_every_kind_load_no_client_at_build(tmp_path: Path) -> None:
    modules = set(_built(tmp_path, DOWNSTREAMS)["modules"])
    assert sorted({m.split(".")[0] for m in modules} & CLIENTS) == []
    loaded = {m.removeprefix("receiver.destinations.") for m in modules}
    assert sorted(loaded & UNCONFIGURED) == []
    # What the configured ones are checked with is loaded: their providers, not more.
    assert {"webhook", "slack", "kafka", "sqs", "nats", "pull"} <= loaded
