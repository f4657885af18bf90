"""`receiver listen`: an app's events forwarded to a server on this machine, as the relay
would send them (Standard Webhooks, signed), read from a pull downstream of the app (made
on the first run) with its key: no public URL needed. One line each event; the cursor is
kept in a small state file, so a restart resumes after the last event forwarded; the relay
or the local server out of reach is said in one line, then tried again with a backoff.
httpx is imported only when the command runs."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from receiver.cli.common import fail
from receiver.kernel.secrets.webhooks import headers, new_secret

if TYPE_CHECKING:
    import httpx

WAIT_SECONDS = 25
MAX_BACKOFF_SECONDS = 30.0


@dataclass
class State:
    """What a restart resumes from: the cursor after the last event forwarded, the secret."""

    path: Path
    after: str | None = None
    secret: str | None = None

    @classmethod
    def read(cls, path: Path) -> State:
        try:
            kept = json.loads(path.read_text())
        except (OSError, ValueError):
            return cls(path)
        return cls(path, kept.get("after"), kept.get("secret"))

    def save(self) -> None:
        self.path.write_text(json.dumps({"after": self.after, "secret": self.secret}))


def message_id(event: dict[str, Any], body: bytes) -> str:
    """The event's own id (the same on every forward of it), else one made from its body."""
    data = event.get("data")
    known = data.get("event_id") if isinstance(data, dict) else None
    return str(known) if known else "msg_" + hashlib.sha256(body).hexdigest()[:24]


def line(event: dict[str, Any], status: int, seconds: float) -> str:
    """One terminal line: the time, the type, the task, the local answer and its time."""
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    task = (data or {}).get("task_id") or "-"
    at = time.strftime("%H:%M:%S")
    return f"{at}  {event.get('type', '-'):<22} {task}  -> {status} in {seconds * 1000:.0f} ms"


class Backoff:
    def __init__(self) -> None:
        self.seconds = 1.0

    def wait(self) -> float:
        waited = self.seconds
        time.sleep(waited)
        self.seconds = min(self.seconds * 2, MAX_BACKOFF_SECONDS)
        return waited

    def unreachable(self, what: str, exc: Exception) -> None:
        """One clear line, then the wait before the next try."""
        why = type(exc).__name__
        click.echo(f"{what} unreachable ({why}); retrying in {self.seconds:g}s", err=True)
        self.wait()

    def reset(self) -> None:
        self.seconds = 1.0


def _downstream(relay: httpx.Client, name: str) -> None:
    """The app's pull downstream `name`, made when missing."""
    found = relay.get(f"/v1/downstreams/{name}")
    if found.status_code == 404:
        made = relay.post("/v1/downstreams", json={"name": name, "format": "pull"})
        if made.status_code != 201:
            fail(f"could not make the pull downstream {name!r}: {made.status_code} {made.text}")
        click.echo(f"made the pull downstream {name!r} of this key's app")
        return
    if found.status_code in (401, 403):
        fail(f"the relay refused the key: {found.status_code} {found.text}")
    found.raise_for_status()
    if found.json().get("format") != "pull":
        fail(f"{name!r} is a {found.json().get('format')} downstream: name a pull one")


def _forward(local: httpx.Client, to: str, secret: str, event: dict[str, Any]) -> None:
    """Post one event to the local server, signed, until it answers (any status)."""
    import httpx

    body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
    backoff = Backoff()
    while True:
        signed = headers([secret], message_id(event, body), int(time.time()), body)
        started = time.monotonic()
        try:
            answer = local.post(
                to, content=body, headers={**signed, "content-type": "application/json"}
            )
        except httpx.HTTPError as exc:
            backoff.unreachable(f"local server at {to}", exc)
            continue
        click.echo(line(event, answer.status_code, time.monotonic() - started))
        return


@click.command()
@click.option("--relay", "relay_url", required=True, envvar="RECEIVER_URL", help="The relay's URL.")
@click.option(
    "--key", required=True, envvar="RECEIVER_API_KEY", help="An app's API key (scope downstreams)."
)
@click.option(
    "--forward-to", "forward_to", required=True, help="The local URL each event is posted to."
)
@click.option(
    "--downstream", default="listen", show_default=True, help="The app's pull downstream read."
)
@click.option(
    "--secret", default=None, help="Sign with this whsec_ secret; unset: one made and printed once."
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path(".receiver-listen.json"),
    show_default=True,
    help="Where the cursor is kept.",
)
def listen(
    relay_url: str, key: str, forward_to: str, downstream: str, secret: str | None, state_path: Path
) -> None:
    """Forward an app's events to a local URL, signed as the relay signs them."""
    import httpx

    state = State.read(state_path)
    if secret is not None:
        state.secret = secret
    elif state.secret is None:
        state.secret = new_secret()
        click.echo(f"signing secret (verify with it): {state.secret}")
    state.save()
    auth = {"authorization": f"Bearer {key}"}
    backoff = Backoff()
    with (
        httpx.Client(base_url=relay_url, headers=auth, timeout=WAIT_SECONDS + 10) as relay,
        httpx.Client(timeout=30) as local,
    ):
        while True:
            try:
                _downstream(relay, downstream)
                break
            except httpx.HTTPError as exc:
                backoff.unreachable(f"relay at {relay_url}", exc)
        click.echo(f"forwarding {downstream!r} to {forward_to} (Ctrl-C ends)")
        backoff.reset()
        while True:
            params: dict[str, str | int] = {"wait": WAIT_SECONDS}
            if state.after:
                params["after"] = state.after
            try:
                answer = relay.get(f"/v1/downstreams/{downstream}/events", params=params)
            except httpx.HTTPError as exc:
                backoff.unreachable(f"relay at {relay_url}", exc)
                continue
            if answer.status_code != 200:
                if answer.status_code in (400, 401, 403, 404):
                    fail(f"the relay answered {answer.status_code}: {answer.text}")
                click.echo(
                    f"the relay answered {answer.status_code}; retrying in {backoff.seconds:g}s",
                    err=True,
                )
                backoff.wait()
                continue
            backoff.reset()
            page = answer.json()
            for event in page["data"]:
                _forward(local, forward_to, state.secret, event)
            state.after = page["next"]
            state.save()
