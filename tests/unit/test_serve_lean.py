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


def test_building_the_app_loads_nothing_it_needs_later(tmp_path: Path) -> None:
    config = tmp_path / "relay.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{tmp_path}/relay.db"\n')
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
    found = json.loads(out.splitlines()[-1])
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
