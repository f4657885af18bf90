"""One poll of a task through the MCP tasks extension (`tasks/get`, receiver/agents/
task_handles.py) beside the same read as the `get_task` tool, on one relay (SQLite) and the
simulator, raw JSON-RPC of the 2026-07-28 era over loopback, one request at a time:

    PYTHONPATH=. python bench/taskgetbench.py [ROUNDS]

Each kind of request is sent ROUNDS times (400 unless given), alternating, for a task still
queued; prints the median and 95th percentile of each, in ms, as one JSON line."""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import ADMIN_TOKEN, API_KEY, relay_settings, start_relay

from receiver.devtools.localserver import BackgroundServer
from receiver.devtools.simulator import SimulatorConfig, create_simulator_app
from tests.testkit import free_port

VERSION = "2026-07-28"
TASKS = "io.modelcontextprotocol/tasks"


def _rpc(http: httpx.Client, key: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": VERSION,
        "io.modelcontextprotocol/clientCapabilities": {"extensions": {TASKS: {}}},
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}
    headers = {
        "Authorization": f"Bearer {key}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": VERSION,
        "Mcp-Method": method,
        **({"Mcp-Name": params["name"]} if method == "tools/call" else {}),
    }
    answer = http.post("/mcp", json=body, headers=headers)
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()["result"]
    return found


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return {"median_ms": round(statistics.median(ordered), 2), "p95_ms": round(p95, 2)}


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    sim = BackgroundServer(create_simulator_app(SimulatorConfig(api_key=API_KEY, seed=7)))
    sim.start()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        settings = relay_settings(Path(tmp) / "relay.db", port, sim_url=sim.url)
        relay = start_relay(Path(tmp), "relay", settings)
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=30) as http:
                admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
                made = http.post(
                    "/v1/keys",
                    json={"name": "bench", "scopes": ["tasks:submit", "tasks:read"]},
                    headers=admin,
                )
                key = str(made.json()["key"])
                request = {
                    "kind": "image_to_video",
                    "model": "gen4_turbo",
                    "promptImage": "https://example.invalid/cat.jpg",
                    "promptText": "queue=600 run=600",
                }
                submitted = _rpc(
                    http,
                    key,
                    "tools/call",
                    {"name": "submit_task", "arguments": {"request": request}},
                )
                task_id = submitted["taskId"]
                asks = {
                    "tasks/get": ("tasks/get", {"taskId": task_id}),
                    "get_task tool": (
                        "tools/call",
                        {"name": "get_task", "arguments": {"task_id": task_id}},
                    ),
                }
                times: dict[str, list[float]] = {name: [] for name in asks}
                for _ in range(rounds):
                    for name, (method, params) in asks.items():
                        began = time.perf_counter()
                        _rpc(http, key, method, params)
                        times[name].append(1000 * (time.perf_counter() - began))
            print(json.dumps({name: _ms(samples) for name, samples in times.items()}))
        finally:
            relay.stop()
            sim.stop()


if __name__ == "__main__":
    main()
