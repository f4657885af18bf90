"""`receiver deliver --metrics`: a worker in a pod of its own is scraped as serve is, on
`server.metrics_listen`, and off loopback only with the token of `metrics_token_env`."""

from __future__ import annotations

import signal

import httpx

from tests.conftest import MakeRelay, webhook
from tests.forked import spawn
from tests.harness import Sink, settled, video2video, wait_for
from tests.testkit import free_port

TOKEN = "worker-metrics-token-" + "0" * 16


def test_a_worker_serves_its_own_metrics_behind_the_token(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay = make_relay([webhook(sink)], delivery={"in_process": False, "tick_seconds": 0.1})
    port = free_port()
    env = {
        **relay.env,
        "RECEIVER__SERVER__METRICS_LISTEN": f"127.0.0.1:{port}",
        "RECEIVER__SERVER__METRICS_TOKEN_ENV": "WORKER_METRICS_TOKEN",
        "WORKER_METRICS_TOKEN": TOKEN,
    }
    argv = ["deliver", "--metrics", "--config", str(relay.config_path)]
    worker = spawn(argv, env, relay.workdir, relay.workdir / "worker-metrics.log")
    try:
        task = relay.submit(**video2video()).json()["id"]
        relay.wait_task(task, settled)
        url = f"http://127.0.0.1:{port}/metrics"

        def scraped() -> str | None:
            try:
                answer = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
            except httpx.HTTPError:
                return None
            return answer.text if answer.status_code == 200 else None

        text = wait_for(scraped)
        # The worker's own counters: the delivery it made is there.
        assert "relay_deliveries_total{" in text and 'outcome="' in text, text[:2000]
        refused = httpx.get(url)
        assert refused.status_code == 401 and "metrics token" in refused.text
        assert httpx.get(f"http://127.0.0.1:{port}/livez").status_code == 404
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
