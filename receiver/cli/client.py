"""`receiver submit` (and follow the task to its end) and `receiver tail`, through a running
relay's API with $RECEIVER_ADMIN_TOKEN; the HTTP side is in relay.py, what it reads in
remote.py."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import IO, TYPE_CHECKING, Any, TypedDict, Unpack

import click

from receiver.cli.common import ChoiceOf, fail, moment, printable
from receiver.cli.reach import every_downstream, relay_of, relay_option, shown_names
from receiver.cli.remote import (
    TERMINAL,
    RemoteError,
    StreamUnavailable,
    change_line,
    output_urls,
    progress_line,
    submit_body,
)

if TYPE_CHECKING:
    from receiver.cli.relay import Relay


class _Progress:
    """The task's progress on stderr: one line redrawn on a terminal, else a line a change."""

    def __init__(self, stream: IO[str]) -> None:
        self.tty = stream.isatty()
        self.last = ""

    def show(self, task: dict[str, Any], note: str = "") -> None:
        line = f"{progress_line(task)}  {task.get('id', '')}{note}"
        if line == self.last:
            return
        if self.tty:
            click.echo("\r" + line.ljust(len(self.last)), nl=False, err=True)
        else:
            click.echo(line, err=True)
        self.last = line

    def end(self) -> None:
        if self.tty and self.last:
            click.echo(err=True)


def _wait(relay: Relay, task_id: str, progress: _Progress, media_wait: float) -> dict[str, Any]:
    """Follow the task until it ends (the live stream; polling on a relay without one), then
    give the copies of its renders a while to be made."""
    try:
        for event in relay.follow(task_id, since=0):
            if event.event == "task":
                summary = json.loads(event.data)
                progress.show(summary)
                if summary.get("state") in TERMINAL:
                    break
    except StreamUnavailable:
        while (task := relay.task(task_id))["state"] not in TERMINAL:
            progress.show(task)
            time.sleep(1)
    task = relay.task(task_id)
    deadline = time.monotonic() + media_wait
    while (task.get("media") or {}).get("status") == "pending" and time.monotonic() < deadline:
        progress.show(task, "  (copying the renders)")
        time.sleep(0.5)
        task = relay.task(task_id)
    progress.show(task)
    return task


class _SubmitOptions(TypedDict):
    """The submit command's options, as click passes them."""

    prompt: str | None
    video: str | None
    image: str | None
    audio: str | None
    kind: str
    model: str | None
    fields: str | None
    wait: bool
    as_json: bool
    url: str


def _read_fields(fields: str | None) -> str | None:
    """`--body`'s JSON, or the text of the file it names after an @."""
    if not fields or not fields.startswith("@"):
        return fields
    try:
        with open(fields[1:], encoding="utf-8") as file:
            return file.read()
    except OSError as exc:
        raise click.UsageError(f"--body: cannot read {fields[1:]}: {exc.strerror}") from None


@click.command("submit")
@click.option(
    "--kind",
    type=ChoiceOf("receiver.lifecycle.rules.task:KIND_NAMES"),
    default="video2video",
    show_default=True,
    help="A kind of the relay's table: its CometAPI route.",
)
@click.option("--prompt", help="The prompt, in the kind's field for it (promptText, prompt).")
@click.option("--video", help="The source video's URL, in the kind's field for its source.")
@click.option("--image", help="The source image's URL, in the kind's field for its source.")
@click.option("--audio", help="The source sound's URL, in the kind's field for its source.")
@click.option("--model", help="The route's model (required by Runway's own routes).")
@click.option(
    "--body",
    "fields",
    help="The kind's other fields as a JSON object, passed on as given, e.g."
    ' \'{"ratio": "1280:720", "duration": 5}\'; @FILE reads it from a file.',
)
@click.option("--wait", is_flag=True, help="Show its progress until it ends, then its outputs.")
@click.option("--json", "as_json", is_flag=True, help="Print the relay's JSON answer.")
@relay_option
def submit(**given: Unpack[_SubmitOptions]) -> None:
    """Submit a task; with --wait, follow it to its end.

    With --wait the output URLs are printed, one a line (the relay's copies when it makes
    them), and the exit status is 0; a task that fails or is cancelled exits with 1.
    """
    wait, as_json, url = given["wait"], given["as_json"], given["url"]
    sources = [given[name] for name in ("video", "image", "audio") if given[name]]
    if len(sources) > 1:
        raise click.UsageError("give one source: --video, --image or --audio")
    try:
        body = submit_body(
            given["kind"],
            given["prompt"],
            sources[0] if sources else None,
            given["model"],
            _read_fields(given["fields"]),
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    with relay_of(url, app_key=True) as relay:
        try:
            answer = relay.call("POST", "/v1/tasks", json=body)
            if not wait:
                click.echo(json.dumps(answer) if as_json else f"{answer['id']}  {answer['state']}")
                return
            progress = _Progress(sys.stderr)
            try:
                task = _wait(relay, answer["id"], progress, media_wait=60.0)
            finally:
                progress.end()
        except RemoteError as exc:
            fail(str(exc))
    if as_json:
        click.echo(json.dumps(task, indent=2))
    if task["state"] != "succeeded":
        reason = task.get("error") or "no reason given"
        click.echo(f"receiver: task {task['id']} {task['state']}: {reason}", err=True)
        sys.exit(1)
    if not as_json:
        for link in output_urls(task):
            click.echo(link)


@click.command()
@click.option("--task", "task_id", help="Only this task's changes.")
@click.option(
    "--since",
    callback=moment,
    help="Start at this time, not now: epoch seconds, RFC 3339 (2026-05-01T09:30:00Z) or a"
    " while ago (10m, 2h, 1d).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object a change.")
@relay_option
def tail(task_id: str | None, since: float | None, as_json: bool, url: str) -> None:
    """Print each change as it happens, until Ctrl-C.

    A task's new state or progress, a delivery attempt with its answer."""
    signal.signal(signal.SIGINT, _quit_reading)
    started = time.time()
    with relay_of(url, app_key=True) as relay:
        shown = _ShownNames(relay)
        try:
            for event in relay.follow(task_id, since=since):
                if event.event not in ("task", "attempt"):
                    continue
                data = json.loads(event.data)
                changes = [data]
                if event.event == "task" and since is not None and _replayed(data, started):
                    changes = _every_change(relay, data, since)
                for change in changes:
                    if as_json:
                        click.echo(
                            json.dumps({"event": event.event, "id": event.id, "data": change})
                        )
                    else:
                        if isinstance(change.get("downstream"), str):
                            change = {**change, "downstream": shown(change["downstream"])}
                        click.echo(printable(change_line(event, change)))
        except StreamUnavailable:
            fail("this relay has no live stream (GET /v1/stream)")
        except RemoteError as exc:
            fail(str(exc))


class _ShownNames:
    """An app's downstream, which the stream names `app_<id>.NAME`, as APP/NAME, from the
    admin's list (read again, once, for each name not in it yet)."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.names: dict[str, str] = {}
        self.asked: set[str] = set()

    def __call__(self, kept: str) -> str:
        owner, dot, _ = kept.partition(".")
        if not dot or not owner.startswith(("app_", "key_")) or kept in self.asked:
            return self.names.get(kept, kept)
        self.asked.add(kept)
        try:
            listed = every_downstream(self.relay)
        except (RemoteError, KeyError, TypeError):
            listed = []
        self.names[kept] = shown_names(listed)(kept)
        return self.names[kept]


def _replayed(data: dict[str, Any], started: float) -> bool:
    """A task as it was before `tail` started: the stream sends each such task once, as it
    is now, so its earlier changes are read from its history."""
    at = data.get("updated_at")
    return isinstance(at, int | float) and at < started


def _every_change(relay: Relay, data: dict[str, Any], since: float) -> list[dict[str, Any]]:
    """Each state the task took after `since` (its applied events), oldest first, as the
    stream's task data; the newest is the task as it is now."""
    try:
        events = relay.task(str(data.get("id")))["events"]
    except (RemoteError, KeyError):
        return [data]
    moves = [
        e
        for e in events
        if e.get("applied") and e.get("state") and float(e.get("received_at") or 0) >= since
    ]
    cleared = {"progress": None, "error": None}
    earlier = [
        {**data, **cleared, "state": e["state"], "updated_at": e["received_at"]} for e in moves[:-1]
    ]
    return [*earlier, data]


def _quit_reading(signum: int, frame: object) -> None:
    """Ctrl-C ends a reader at once: an interrupt raised inside the HTTP client's pool can
    leave its lock held, and closing the client would then wait for ever. A reader has
    nothing to save but what it printed."""
    sys.stdout.flush()
    os._exit(0)
