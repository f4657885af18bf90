"""App B's tasks' own webhooks while app A's are costly, each app's in its own expression
line, lane and breaker (receiver/deliveries/fanout/connections.py's `task_lane`).

    python bench/taskwebhookbench.py                # both scenarios
    python bench/taskwebhookbench.py --only hungry  # or: slow

`receiver serve` of this checkout (SQLite) with CometAPI's simulator and two sinks in this
process. B submits a task with a webhook every `B_EVERY` s; its latency is from the event's
`occurred_at` to its arrival at B's sink.

- hungry: A's tasks' webhooks carry CPU-hungry `webhook_filter`s (each distinct, stopped at
  its budget), and A replays its deliveries in a loop (each replay evaluates the filter
  again) for `FLOOD_SECONDS`; then `AFTER_SECONDS` while what A queued drains.
- slow: A's 40 tasks' webhooks answer 503 after 9.5 s, retried (1, 2, 4, 8 s); B's measured
  for `SLOW_SECONDS` from when A's hold 32 slots at once.

Prints one JSON line: B's p50, p95 and max (s) in each phase, and what A did. Measured on two
shared cores, B's p95: hungry 0.21-0.38 s, after 0.07-0.19 s, slow 28-48 ms; e331405 (its
`receiver` first on PYTHONPATH, RELAY_TEST_SPAWN=exec): 9.34 s, 15.9 s, 6.52 s."""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from receiver.devtools.localserver import BackgroundServer
from receiver.devtools.simulator import SimulatorConfig, create_simulator_app
from receiver.devtools.sink import create_sink_app
from tests.harness import (
    ADMIN_TOKEN,
    API_KEY,
    SIGNING_SECRET,
    TASK_HOOK_SECRET,
    Relay,
    Sink,
    image_to_video,
    relay_settings,
)
from tests.testkit import free_port

B_EVERY = 0.5
FLOOD_SECONDS = 30.0
AFTER_SECONDS = 20.0
SLOW_SECONDS = 40.0
A_HUNGRY_TASKS = 60
A_SLOW_TASKS = 40
SLOTS = 32  # delivery.task_webhook_max_in_flight's default
HUNGRY = "[" + ", ".join(["0"] * 100) + "].exists(x, 'a'.matches('\\\\w{200}')) || "
REPLAYERS = 8


def _sink() -> Sink:
    server = BackgroundServer(create_sink_app())
    server.start()
    return Sink(server)


def _client(relay: Relay, app: str) -> httpx.Client:
    made = relay.api.post("/v1/apps", json={"name": app})
    made.raise_for_status()
    scopes = ["tasks:submit", "tasks:read", "downstreams"]
    key = relay.api.post(f"/v1/apps/{app}/keys", json={"name": app, "scopes": scopes})
    key.raise_for_status()
    headers = {"Authorization": f"Bearer {key.json()['key']}"}
    return httpx.Client(base_url=relay.url, headers=headers, timeout=60)


def _submit(client: httpx.Client, webhook: str, **more: Any) -> str:
    body = {**image_to_video(), "webhook": webhook, "webhook_events": ["succeeded"], **more}
    answer = client.post("/v1/tasks", json=body)
    answer.raise_for_status()
    return str(answer.json()["id"])


class BTasks:
    """B's tasks, one every B_EVERY s on a thread of its own, each with the phase it was
    submitted in."""

    def __init__(self, client: httpx.Client, sink: Sink) -> None:
        self.client, self.sink = client, sink
        self.phase = "alone"
        self.phases: dict[str, str] = {}  # task id: phase
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self.stop.wait(B_EVERY):
            phase = self.phase
            self.phases[_submit(self.client, f"{self.sink.url}/b-{n}")] = phase
            n += 1

    def latencies(self, wait: float = 60.0) -> dict[str, dict[str, float]]:
        """Each phase's p50, p95 and max, once every B task arrived (or `wait` ran out)."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            hits = self.sink.accepted()
            if len({json.loads(h["body"])["data"]["task_id"] for h in hits}) >= len(self.phases):
                break
            time.sleep(0.5)
        by_phase: dict[str, list[float]] = {}
        for hit in self.sink.accepted():
            data = json.loads(hit["body"])["data"]
            phase = self.phases.get(data["task_id"])
            if phase is not None:
                by_phase.setdefault(phase, []).append(hit["received_at"] - data["occurred_at"])
        return {phase: _figures(values) for phase, values in by_phase.items()}


def _figures(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[max(0, round(len(ordered) * 0.95) - 1)]
    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 3),
        "p95": round(p95, 3),
        "max": round(ordered[-1], 3),
    }


def _replaying(client: httpx.Client, stop: threading.Event, counts: dict[str, int]) -> None:
    """A's deliveries replayed in a closed loop: each one's hungry filter evaluated anew."""
    ids = [
        d["id"] for d in client.get("/v1/deliveries", params={"limit": 200}).json()["deliveries"]
    ]
    n = 0
    while ids and not stop.is_set():
        answer = client.post(f"/v1/deliveries/{ids[n % len(ids)]}/replay")
        counts["replays" if answer.status_code < 300 else "refused"] += 1
        n += 1


def hungry(relay: Relay) -> dict[str, Any]:
    a, b = _client(relay, "alpha"), _client(relay, "beta")
    a_sink, b_sink = _sink(), _sink()
    bs = BTasks(b, b_sink)
    bs.thread.start()
    time.sleep(10)  # B alone
    bs.phase = "flood"
    for n in range(A_HUNGRY_TASKS):
        _submit(a, f"{a_sink.url}/a-{n}", webhook_filter=f"{HUNGRY}{n} == 0")
    stop, counts = threading.Event(), {"replays": 0, "refused": 0}
    replayers = [
        threading.Thread(target=_replaying, args=(a, stop, counts), daemon=True)
        for _ in range(REPLAYERS)
    ]
    time.sleep(5)  # A's first deliveries made
    for t in replayers:
        t.start()
    time.sleep(FLOOD_SECONDS)
    stop.set()
    bs.phase = "after"
    time.sleep(AFTER_SECONDS)
    bs.stop.set()
    out = {"b": bs.latencies(), "a": counts}
    for sink in (a_sink, b_sink):
        sink.close()
    return out


def slow(relay: Relay) -> dict[str, Any]:
    a, b = _client(relay, "gamma"), _client(relay, "delta")
    a_sink, b_sink = _sink(), _sink()
    a_sink.mode(status=503, delay_seconds=9.5)
    bs = BTasks(b, b_sink)
    bs.thread.start()
    time.sleep(10)
    bs.phase = "a_starting"
    for n in range(A_SLOW_TASKS):
        _submit(a, f"{a_sink.url}/a-{n}")
    # Measured from when A's webhooks hold every slot their lane has (32 by default).
    deadline = time.monotonic() + 180
    while len(a_sink.received()) < SLOTS and time.monotonic() < deadline:
        time.sleep(0.2)
    bs.phase = "a_retrying"
    time.sleep(SLOW_SECONDS)
    bs.stop.set()
    out = {"b": bs.latencies(), "a_attempts": len(a_sink.received())}
    for sink in (a_sink, b_sink):
        sink.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["hungry", "slow"])
    only = parser.parse_args().only
    sim = BackgroundServer(create_simulator_app(SimulatorConfig(api_key=API_KEY, seed=7)))
    sim.start()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as work:
        for name, scenario in (("hungry", hungry), ("slow", slow)):
            if only not in (None, name):
                continue
            port = free_port()
            settings = relay_settings(
                f"sqlite:///{Path(work) / f'{name}.db'}",
                f"http://127.0.0.1:{port}",
                sim.url,
                delivery={"retry_schedule": [1, 2, 4, 8]},
                logging={"level": "warning"},
            )
            env = {
                "COMETAPI_KEY": API_KEY,
                "RECEIVER_ADMIN_TOKEN": ADMIN_TOKEN,
                "RECEIVER_SECRET": SIGNING_SECRET,
                "RECEIVER_WEBHOOK_SECRET": TASK_HOOK_SECRET,
            }
            relay = Relay(Path(work), settings, env).start()
            try:
                results[name] = scenario(relay)
            finally:
                relay.close()
    sim.stop()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
