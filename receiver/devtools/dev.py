"""`receiver dev`: the demo's stack (stack.py) to play with until Ctrl-C.

Its folder is kept between runs, private (the store holds the apps' keys and payloads): the
SQLite file, media copies and `dev.json`, with the secrets made on the first run and the
ports last used, taken again when free so that the exported URL stays the same. The first
run makes a demo app with a key and a downstream at the sink, through the relay's own API.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import click
import httpx

from receiver.devtools.stack import LocalStack, Ports, StackError, new_secrets, sink_webhook
from receiver.kernel.observability import logs

STATE_FILE = "dev.json"
# What an older run (before the folder was made private) may have left readable to others.
_STORE_FILES = ("relay.db", "relay.db-wal", "relay.db-shm", "lock")
_SERVERS = ("relay", "simulator", "sink")  # the fields of Fixed and Ports, dev.json's ports
DEMO_APP = "demo"
DEMO_DOWNSTREAM = "hooks"
_READY_SECONDS = 60.0
_PORTAL_LINK_SECONDS = 86_400  # the longest a link may live: a day of work
# The store's sealed secrets open only with the secrets of dev.json: both go, or neither.
_AFRESH = "remove the folder to start afresh"


class DevError(Exception):
    """A start-up problem, said in one line."""


@dataclass(frozen=True)
class Fixed:
    """The ports asked for on the command line (None: the last run's when free, else any)."""

    relay: int | None = None
    simulator: int | None = None
    sink: int | None = None


def _sink_downstream(sink_url: str) -> list[dict[str, Any]]:
    # Every task's events, the admin token's included.
    return [sink_webhook(sink_url, "sink")]


def _read_state(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DevError(f"cannot read {path}: {exc} ({_AFRESH})") from None
    if not isinstance(state, dict):
        raise DevError(f"cannot read {path}: not a JSON object ({_AFRESH})")
    return state


def _write_state(path: Path, state: dict[str, Any]) -> None:
    """Written whole to a file only its owner reads, then moved over the old one."""
    fresh = path.with_suffix(".tmp")
    try:
        with contextlib.suppress(FileNotFoundError):
            fresh.unlink()
        fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(state, out, indent=2)
        os.replace(fresh, path)
    except OSError as exc:
        raise DevError(f"cannot write {path}: {exc.strerror or exc}") from None


def _secrets(state: dict[str, Any]) -> dict[str, str]:
    """The relay's secrets, made once per folder."""
    made = new_secrets("dev-")
    kept = state.setdefault("secrets", {})
    if not isinstance(kept, dict):
        raise DevError(f"{STATE_FILE}: `secrets` is not a JSON object ({_AFRESH})")
    for name, value in made.items():
        kept.setdefault(name, value)
    return {name: str(kept[name]) for name in made}


@contextlib.contextmanager
def _folder(folder: Path) -> Iterator[None]:
    """The folder made if need be, private, and held: two relays on one SQLite file would
    both poll."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)  # also when an older run left it, and its store's files, open
        for name in _STORE_FILES:
            with contextlib.suppress(FileNotFoundError):
                (folder / name).chmod(0o600)
        lock = open(folder / "lock", "a")  # noqa: SIM115 (held until the end)
    except OSError as exc:
        raise DevError(f"cannot use the folder {folder}: {exc.strerror or exc}") from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise DevError(f"another `receiver dev` runs on {folder}") from None
        yield


@contextlib.contextmanager
def _private_files() -> Iterator[None]:
    """Files made meanwhile (SQLite's -wal and -shm, media copies) readable by their owner
    only: the relay runs in this process, so its umask is theirs."""
    before = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(before)


def _port(value: object) -> int:
    """A port `dev.json` remembers; 0 (any) for what is not one."""
    return value if isinstance(value, int) and 0 < value < 65536 else 0


def _ports(fixed: Fixed, last: dict[str, Any]) -> tuple[Ports, Ports]:
    """The ports asked for, else last run's; and the ports asked for, else any."""
    wanted = {name: getattr(fixed, name) for name in _SERVERS}
    remembered = {n: _port(last.get(n)) if p is None else p for n, p in wanted.items()}
    return Ports(**remembered), Ports(**{n: p or 0 for n, p in wanted.items()})


def _start(folder: Path, env: dict[str, str], fixed: Fixed, last: dict[str, Any]) -> LocalStack:
    """On last run's ports when they are free (the exported URL stays), else on others."""
    remembered, asked = _ports(fixed, last)
    try:
        return LocalStack(folder, env, _sink_downstream, remembered, _arrived)
    except StackError:
        if remembered == asked:
            raise
    return LocalStack(folder, env, _sink_downstream, asked, _arrived)


def _arrived(entry: dict[str, Any]) -> None:
    """One line a request at the sink: when, where, which event of which task, its answer."""
    event = entry["json"] if isinstance(entry["json"], dict) else {}
    data = event.get("data")
    data = data if isinstance(data, dict) else {}
    what = " ".join(str(v) for v in (event.get("type"), data.get("task_id")) if v)
    stamp = time.strftime("%H:%M:%S", time.localtime(entry["received_at"]))
    click.echo(f"{stamp}  sink  {entry['method']} {entry['path']}  {what}  -> {entry['status']}")


def _first_run(api: httpx.Client, state: dict[str, Any], sink_url: str) -> None:
    """The demo app, its key and its downstream at the sink, made once; on a later run the
    downstream follows the sink to its port."""
    hook_url = f"{sink_url}/hooks/{DEMO_APP}"
    if api.get(f"/v1/apps/{DEMO_APP}").status_code == 404:
        _ok(api.post("/v1/apps", json={"name": DEMO_APP}))
        made = api.post(
            f"/v1/apps/{DEMO_APP}/keys",
            json={
                "name": f"{DEMO_APP}-key",
                "scopes": ["tasks:submit", "tasks:read", "downstreams"],
            },
        )
        state["demo_app_key"] = _ok(made)["key"]
        as_app = {"Authorization": f"Bearer {state['demo_app_key']}"}
        body = {"name": DEMO_DOWNSTREAM, "url": hook_url, "format": "webhook"}
        _ok(api.post("/v1/downstreams", json=body, headers=as_app))
    elif key := state.get("demo_app_key"):
        as_app = {"Authorization": f"Bearer {key}"}
        api.patch(f"/v1/downstreams/{DEMO_DOWNSTREAM}", json={"url": hook_url}, headers=as_app)


def _ok(answer: httpx.Response) -> dict[str, Any]:
    if answer.status_code >= 300:
        raise DevError(
            f"the relay refused {answer.request.method} {answer.request.url.path}:"
            f" HTTP {answer.status_code} {answer.text[:200]}"
        )
    body: dict[str, Any] = answer.json()
    return body


def _stop_on_signals() -> threading.Event:
    """Set by SIGINT (Ctrl-C) or SIGTERM, from now: one during start-up stops once started."""
    stopped = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    return stopped


def run_dev(folder: Path, fixed: Fixed) -> None:
    """Raises DevError for a start-up problem; returns once stopped by a signal."""
    logs.configure("warning", readable=True)  # among its own lines, not JSON
    stopped = _stop_on_signals()
    state_path = folder / STATE_FILE
    with _private_files(), _folder(folder):
        state = _read_state(state_path)
        fresh = "secrets" not in state
        env = _secrets(state)
        _write_state(state_path, state)  # before any server: an unwritable file says so now
        last = state.get("ports")
        with _start(folder, env, fixed, last if isinstance(last, dict) else {}) as stack:
            state["ports"] = {name: getattr(stack, name).port for name in _SERVERS}
            link = _prepare(stack, env["RECEIVER_ADMIN_TOKEN"], state)
            _write_state(state_path, state)
            _say(folder, stack, env["RECEIVER_ADMIN_TOKEN"], link, fresh)
            while not stopped.wait(1):
                pass
            click.echo("\nstopping the relay, the sink and the simulator ...")
    click.echo(f"stopped; the store stays in {folder}/ for the next `receiver dev`")


def _prepare(stack: LocalStack, token: str, state: dict[str, Any]) -> str:
    """The demo app made or followed to the sink; a fresh link to its portal."""
    admin = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=stack.relay.url, headers=admin, timeout=10) as api:
            # Ready first: the store migrated and the API's routes built.
            ready = api.get("/readyz", timeout=_READY_SECONDS)
            if ready.status_code != 200:
                raise DevError(f"the relay is not ready: HTTP {ready.status_code} {ready.text}")
            _first_run(api, state, stack.sink.url)
            wanted = {"app": DEMO_APP, "ttl_seconds": _PORTAL_LINK_SECONDS}
            return str(_ok(api.post("/v1/portal-links", json=wanted))["url"])
    except httpx.HTTPError as exc:
        raise DevError(f"the relay at {stack.relay.url} did not answer: {exc}") from None


def _say(folder: Path, stack: LocalStack, token: str, portal: str, fresh: bool) -> None:
    relay, sink = stack.relay.url, stack.sink.url
    first = "made on this first run" if fresh else "kept from the last run"
    click.echo(
        "runway-relay dev: the relay, a CometAPI simulator and a sink on 127.0.0.1, until Ctrl-C\n"
        f"  store      {folder}/ (relay.db, media/), kept between runs\n"
        f"  secrets    {folder}/{STATE_FILE} (the admin token, the {DEMO_APP} app's key), {first}\n"
        f"  relay      {relay}\n"
        f"  simulator  {stack.simulator.url}  (CometAPI: any task succeeds in about 3 s)\n"
        f"  sink       {sink}/hooks/relay (every task), {sink}/hooks/{DEMO_APP}"
        f" (the {DEMO_APP} app's)\n"
        f"  deliveries a line each below as they land; what they carried: {sink}/_sink/received\n"
        "\n# paste into a shell:\n"
        f"export RECEIVER_URL={relay}\n"
        f"export RECEIVER_ADMIN_TOKEN={token}\n"
        # The store commands (`receiver tasks list`, `downstreams list`) read the store itself.
        f"export RECEIVER__STORAGE__URL=sqlite:///{folder.resolve() / 'relay.db'}\n"
        f"\n  console    {relay}/console  (sign in with the admin token)\n"
        f"  portal     {portal}\n"
        f"             (the {DEMO_APP} app's portal: the link opens once, within a day)\n"
        '\n  try        receiver submit --prompt "a lighthouse at dusk"'
        " --video https://example.com/in.mp4 --wait\n"
    )
