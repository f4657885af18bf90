"""Real things on loopback for the tests: the relay as a process, the simulator, sinks.

The relay runs as `receiver serve` in its own process (so tests can SIGTERM and SIGKILL
it), forked from one that has imported it already (`forked.py`); the CometAPI simulator
and the downstream sinks run under uvicorn in this process and are steered over their
HTTP control routes, as a user would.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from prometheus_client.parser import text_string_to_metric_families
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from receiver.config.names import ADVANCED, RENAMED
from receiver.devtools.localserver import BackgroundServer
from receiver.devtools.simulator import SimulatorConfig, create_simulator_app
from receiver.kernel.secrets.tokens import _SALT
from tests import forked
from tests.forked import Process, spawn
from tests.testkit import PG_URL, free_port, to_toml

API_KEY = "sk-test-" + "a1b2c3d4e5f6a7b8c9d0"
ADMIN_TOKEN = "admin-" + "f0e1d2c3b4a5968778695a4b"
SIGNING_SECRET = "sign-" + "0123456789abcdef0123456789abcdef"
OLD_SIGNING_SECRET = "old-sign-" + "fedcba9876543210fedcba98"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"downstream-secret-for-tests-0001").decode()
TASK_HOOK_SECRET = "whsec_" + base64.b64encode(b"task-webhook-secret-for-tests-01").decode()
SECRETS = (
    API_KEY,
    ADMIN_TOKEN,
    SIGNING_SECRET,
    OLD_SIGNING_SECRET,
    WEBHOOK_SECRET,
    TASK_HOOK_SECRET,
)
# URLs a caller may not give the relay (a task's webhook, a downstream made through the
# API): loopback, private, cloud metadata, a local name. None is ever contacted.
PRIVATE_URLS = (
    "http://127.0.0.1:9/hook",
    "http://10.1.2.3/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://localhost:8080/hook",
)

T = TypeVar("T")

# The test clients let an idle connection go after a second, well before a server closes
# it (uvicorn: 5 s): a request sent on a connection the server was closing that moment got
# "Server disconnected without sending a response" on a loaded machine.
KEEP_ALIVE = httpx.Limits(keepalive_expiry=1.0)


# How long a wait on a condition may last by default: the condition ends it, so this is only
# a backstop, well inside the 120 s test timeout. Fixed short bounds (5 s, 10 s) failed on a
# loaded machine while the relay was only slow (RELAY_TEST_WAIT_SECONDS overrides it).
WAIT_SECONDS = float(os.environ.get("RELAY_TEST_WAIT_SECONDS", "60"))


def wait_for(check: Callable[[], T], timeout: float = WAIT_SECONDS, interval: float = 0.05) -> T:
    """Poll `check` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {value!r})")
        time.sleep(interval)
        value = check()
    return value


def whole_answer(conn: socket.socket) -> bytes:
    """One HTTP answer read off a raw socket, head and body: they may come in separate
    segments, so the body is read to its declared length (or until the relay closes)."""
    answer = b""
    while b"\r\n\r\n" not in answer and (chunk := conn.recv(4096)):
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length and (chunk := conn.recv(4096)):
        body += chunk
    return head + b"\r\n\r\n" + body


def metric(text: str, name: str, **labels: str) -> float:
    """One sample of a Prometheus exposition text (0 when absent, as for an unused label)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def mint(task_id: str, secret: str = SIGNING_SECRET, age_seconds: float = 0) -> str:
    """A callback token as a relay with `secret` makes them, issued `age_seconds` ago."""

    class Backdated(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - age_seconds)

    token = URLSafeTimedSerializer(secret, salt=_SALT, signer=Backdated).dumps({"t": task_id})
    assert isinstance(token, str)
    return token


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The official Standard Webhooks library's verdict on one delivery."""
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


class Controlled:
    """A server in this process, steered over HTTP."""

    def __init__(self, server: BackgroundServer) -> None:
        self.server = server
        self.url = server.url
        self.http = httpx.Client(base_url=self.url, timeout=WAIT_SECONDS, limits=KEEP_ALIVE)

    def close(self) -> None:
        self.http.close()
        self.server.stop()


class Simulator(Controlled):
    @classmethod
    def serve(cls, seed: int) -> Simulator:
        """A simulator of one's own on loopback (its renders: a real MP4 and PNG at /cdn)."""
        server = BackgroundServer(create_simulator_app(SimulatorConfig(api_key=API_KEY, seed=seed)))
        server.start()
        return cls(server)

    def faults(self, **faults: Any) -> None:
        self.http.post("/_sim/faults", json=faults).raise_for_status()

    def reset(self) -> None:
        self.http.post("/_sim/reset").raise_for_status()

    def tasks(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.http.get("/_sim/tasks").json()
        return result

    def callbacks(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.http.get("/_sim/callbacks").json()
        return result

    def stats(self) -> dict[str, int]:
        result: dict[str, int] = self.http.get("/_sim/stats").json()
        return result


class Sink(Controlled):
    def mode(self, **mode: Any) -> None:
        self.http.post("/_sink/mode", json=mode).raise_for_status()

    def reset(self) -> None:
        self.http.post("/_sink/reset").raise_for_status()

    def received(self, path: str | None = None) -> list[dict[str, Any]]:
        hits: list[dict[str, Any]] = self.http.get("/_sink/received").json()
        return [h for h in hits if path is None or h["path"] == path]

    def accepted(self, path: str | None = None) -> list[dict[str, Any]]:
        return [h for h in self.received(path) if 200 <= h["status"] < 300]


def relay_settings(
    storage_url: str, public_url: str, sim_url: str, **overrides: Any
) -> dict[str, Any]:
    """A config for tests: fast polling and retries, everything on loopback."""
    settings: dict[str, Any] = {
        # Gauges counted at each scrape: a test reads what it just did.
        # /metrics on a port of its own, as by default, free on a machine of parallel tests.
        "server": {
            "host": "127.0.0.1",
            "public_url": public_url,
            "metrics_count_seconds": 0,
            "metrics_listen": f"127.0.0.1:{free_port()}",
        },
        # CometAPI's simulator runs in the test's process: on a loaded machine its answer has
        # taken over 2 s, and a send cut off then is sent again (a fault set for one send
        # met the second). Below the poll lease (5 s), as start-up requires; tests of a slow
        # CometAPI set their own bound.
        "upstream": {"base_url": sim_url, "timeout_seconds": 4},
        "callbacks": {},
        "polling": {
            "callback_grace_seconds": 3,
            "initial_delay_seconds": 0.3,
            "interval_seconds": 0.3,
            "max_interval_seconds": 1,
            "near_gap_seconds": 0.1,
            "running_gap_seconds": 0.3,
            "waiting_gap_seconds": 0.3,
            "lost_callback_gap_seconds": 0.3,
            "task_not_exist_grace_seconds": 3,
            # A tick is a few store reads even when idle: at 0.1 s each relay cost 4 % of a
            # core doing nothing, and CI runs some twenty at a time on two cores.
            "tick_seconds": 0.25,
            "lease_seconds": 5,
        },
        "delivery": {
            "retry_schedule": [0.2, 0.4, 0.8],
            "jitter": 0.1,
            "tick_seconds": 0.25,
            "lease_seconds": 12,  # above the default downstream timeout (10 s)
            "shutdown_grace_seconds": 3,
            # Everything here is on 127.0.0.1, tasks' webhooks included.
            "allow_private_networks": True,
        },
        # A loaded machine (CI's: three suites on two cores) makes PostgreSQL slow, not away:
        # a test of an outage asks for the production deadline itself.
        "storage": {"url": storage_url, "answer_within_seconds": 15.0},
        "logging": {"level": "info"},
        "downstream": [],
    }
    for section, values in overrides.items():
        if isinstance(values, dict):
            settings[section] = {**settings.get(section, {}), **values}
        else:
            settings[section] = values
    return in_file_shape(settings)


def in_file_shape(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings written as a current file has them: tuning knobs under `[advanced.<section>]`
    and no old name, so a relay under test logs no deprecation line (test_config.py holds
    the old names)."""
    shaped: dict[str, Any] = {}
    advanced: dict[str, dict[str, Any]] = {}
    for section, values in settings.items():
        if not isinstance(values, dict):
            shaped[section] = values
            continue
        plain: dict[str, Any] = {}
        for key, value in values.items():
            key = RENAMED.get((section, key), key)
            if key in ADVANCED.get(section, ()):
                advanced.setdefault(section, {})[key] = value
            else:
                plain[key] = value
        shaped[section] = plain
    if advanced:
        shaped["advanced"] = advanced
    return shaped


class Relay:
    """`receiver serve` in a child process, with its JSON log kept in a file."""

    def __init__(self, workdir: Path, settings: dict[str, Any], env: dict[str, str]) -> None:
        self.workdir = workdir
        self.port = int(settings["server"]["public_url"].rsplit(":", 1)[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = workdir / f"relay-{self.port}.toml"
        self.config_path.write_text(to_toml(settings))
        self.log_path = workdir / f"relay-{self.port}.log"
        self.env = {**os.environ, **env, "PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        self.proc: Process | None = None
        self.worker: Process | None = None
        self.worker_log_path = workdir / f"relay-{self.port}-worker.log"
        self.api = httpx.Client(
            base_url=self.url,
            timeout=WAIT_SECONDS,
            limits=KEEP_ALIVE,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        self.anon = httpx.Client(base_url=self.url, timeout=WAIT_SECONDS, limits=KEEP_ALIVE)
        # /metrics's own listener (`server.metrics_listen`), anonymous.
        listen = settings["server"].get("metrics_listen") or "127.0.0.1:9"
        self.metrics = httpx.Client(
            base_url=f"http://{listen}", timeout=WAIT_SECONDS, limits=KEEP_ALIVE
        )

    def _spawn(self, command: str, log_path: Path) -> Process:
        return spawn([command, "--config", str(self.config_path)], self.env, self.workdir, log_path)

    def start_worker(self) -> Process:
        """`receiver deliver` on the same config: the fan-out in a process of its own."""
        self.worker = self._spawn("deliver", self.worker_log_path)
        return self.worker

    def start(self, timeout: float = 2 * WAIT_SECONDS) -> Relay:
        """Spawn `receiver serve` and wait until /readyz answers 200. A relay that exits
        fails at once; the deadline is only for one that hangs: on a loaded machine (two
        cores, many suites) its imports alone have taken over 40 s."""
        self.proc = self._spawn("serve", self.log_path)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"relay exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if self.anon.get("/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"relay did not become ready:\n{self.log()}")
            time.sleep(0.05)

    def stop(self, timeout: float = WAIT_SECONDS) -> int:
        """SIGTERM and wait: the graceful path (uvicorn then re-raises it: exit -15)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout)
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs at all."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        """The service's log, then its worker's, if it has one."""
        paths = (self.log_path, self.worker_log_path)
        return "".join(p.read_text(errors="replace") for p in paths if p.exists())

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log().splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                lines.append({"unparsed": line})
        return lines

    def scrape(self) -> str:
        """/metrics, as Prometheus scrapes it: on its own port, with no token."""
        return self.metrics.get("/metrics").text

    def submit(self, **body: Any) -> httpx.Response:
        return self.api.post("/v1/tasks", json=body)

    def submitted(self, **body: Any) -> dict[str, Any]:
        """Submit, and wait until the submit queue has sent the task and CometAPI took it:
        the 202 answer, with the upstream id it now has."""
        response = self.submit(**body)
        assert response.status_code == 202, response.text
        answer: dict[str, Any] = response.json()
        task = self.wait_task(answer["id"], lambda t: t["submission"] in ("sent", "not_sent"))
        return {**answer, "upstream_task_id": task["upstream_task_id"]}

    def task(self, task_id: str) -> dict[str, Any]:
        # A read the store answered past its timeout (a 503 on a busy machine) is asked
        # again, as any client of the relay would; any other answer is the test's.
        def answered() -> httpx.Response | None:
            got = self.api.get(f"/v1/tasks/{task_id}")
            return None if got.status_code == 503 else got

        response = wait_for(answered)
        assert response is not None  # wait_for returns an answer or fails
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def wait_task(
        self,
        task_id: str,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = WAIT_SECONDS,
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            response = self.api.get(f"/v1/tasks/{task_id}")
            if response.status_code == 503:
                return None  # the store was slow to answer (a loaded machine): ask again
            response.raise_for_status()
            task: dict[str, Any] = response.json()
            return task if predicate(task) else None

        return wait_for(check, timeout)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`receiver <args>` as an operator runs it beside this relay: its URL and admin
        token in the environment (the store tools take `--config` among `args`)."""
        env = {**os.environ, "RECEIVER_URL": self.url, "RECEIVER_ADMIN_TOKEN": ADMIN_TOKEN}
        return forked.run(list(args), env, timeout=60)

    def console(self) -> httpx.Client:
        """A client logged in to the console with the admin token, as an operator's browser
        would be: the login form's CSRF token, then the session cookie."""
        client = httpx.Client(base_url=self.url, timeout=WAIT_SECONDS, limits=KEEP_ALIVE)
        form = client.get("/console/login")
        found = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert found is not None, form.text
        fields = {"csrf": found.group(1), "token": ADMIN_TOKEN, "next": "/console/"}
        done = client.post("/console/login", data=fields)
        assert done.status_code == 303, done.text
        return client

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        if self.worker is not None and self.worker.poll() is None:
            self.worker.kill()
            self.worker.wait(10)
        self.api.close()
        self.anon.close()
        self.metrics.close()


def video2video(**extra: Any) -> dict[str, Any]:
    return {
        "kind": "video2video",
        "video": "https://example.invalid/in.mp4",
        "prompt": "pixel-art redraw",
        **extra,
    }


# A prompt for a task whose `running` state a test must see: the default 0.7 s run can end
# between two polls on a loaded machine.
SEEN_RUNNING = "queue=0.3 run=3"


def image_to_video(**extra: Any) -> dict[str, Any]:
    return {
        "kind": "image_to_video",
        "model": "gen4_turbo",
        "promptImage": "https://example.invalid/cat.jpg",
        "promptText": "a calm camera move",
        **extra,
    }


def video_to_video(**extra: Any) -> dict[str, Any]:
    return {
        "kind": "video_to_video",
        "model": "gen4_aleph",
        "videoUri": "https://example.invalid/in.mp4",
        "promptText": "make it cinematic",
        "seed": 7,
        **extra,
    }


def terminal(task: dict[str, Any]) -> bool:
    return task["state"] in ("succeeded", "failed", "cancelled")


def settled(task: dict[str, Any]) -> bool:
    """Terminal, and no delivery still waiting for an attempt."""
    return terminal(task) and all(d["state"] != "pending" for d in task["deliveries"])


class PgSchema:
    """A private schema on the shared PostgreSQL server, so tests never see each other."""

    def __init__(self) -> None:
        import psycopg  # the postgres extra: the unit tests run without it

        self.name = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {self.name}")
        self.url = f"{PG_URL}?options=-csearch_path%3D{self.name}"

    def drop(self) -> None:
        import psycopg

        # A relay killed mid-transaction leaves its server process running until it notices:
        # the drop may deadlock with its last statement, which the server then ends (each
        # deadlock is detected, and one side ended, within the server's deadlock_timeout).
        for attempt in range(10):
            try:
                with psycopg.connect(PG_URL, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA IF EXISTS {self.name} CASCADE")
                return
            except psycopg.errors.DeadlockDetected:
                if attempt == 9:
                    raise
