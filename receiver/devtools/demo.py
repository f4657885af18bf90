"""`receiver demo`: the whole path on one machine, with no key and no config.

Starts the CometAPI simulator, a downstream sink and the relay on free loopback ports with
a temporary SQLite file, submits a video2video task (finished by callback) and an
image_to_video task (finished by polling), and prints what happened, in order.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import click
import httpx

from receiver.devtools.printing_sink import verdict
from receiver.devtools.stack import (
    SINK_SECRET_ENV,
    LocalStack,
    StackError,
    new_secrets,
    sink_webhook,
)
from receiver.kernel.observability import logs

_TIMEOUT = 60.0
_SOURCES = {"poll": "polled", "cancel": "cancelled"}
# One task finished by its callback, one by polling.
_TASKS = [
    {
        "kind": "video2video",
        "video": "https://example.invalid/source.mp4",
        "prompt": "pixel-art redraw",
        "options": {"structure_transformation": 0.5},
    },
    {
        "kind": "image_to_video",
        "model": "gen4_turbo",
        "promptImage": "https://example.invalid/cat.jpg",
        "promptText": "a calm camera move",
        "duration": 5,
        "ratio": "1280:768",
    },
]


def _downstreams(sink_url: str) -> list[dict[str, Any]]:
    return [
        {**sink_webhook(sink_url, "webhook"), "events": ["running", "succeeded", "failed"]},
        {"name": "slack", "url": f"{sink_url}/slack/T000/B000", "format": "slack"},
        {"name": "discord", "url": f"{sink_url}/discord/123/abc", "format": "discord"},
    ]


def _line(t0: float, at: float, kind: str, task_id: str, text: str) -> tuple[float, str]:
    return at, f"  +{at - t0:6.2f}s  {kind:<15} {task_id}  {text}"


def _signatures(received: list[dict[str, Any]], secret: str) -> dict[str, str]:
    """Check each signed request at the sink the way a downstream would: by webhook-id."""
    checked = {}
    for hit in received:
        h = hit["headers"]
        if "webhook-signature" in h:
            ok = verdict(secret, h, hit["body"].encode(), time.time()) == "ok"
            checked[h["webhook-id"]] = "signature valid" if ok else "signature INVALID"
    return checked


def _event_text(event: dict[str, Any], confirmed_at: set[float], task: dict[str, Any]) -> str:
    source, state, word = event["source"], event["state"], event["upstream_status"]
    if source == "submit":
        return f"submitted -> CometAPI task {task['upstream_task_id']}, persisted"
    if source == "callback":
        claim = f"claims {state}" if state else "no state of its own"
        return f"callback received: status {word} ({claim}), kept; asking CometAPI"
    if source == "poll" and event["received_at"] in confirmed_at:
        what = "confirmed by CometAPI"
    else:
        what = _SOURCES.get(source, source)
    suffix = "persisted" if event["applied"] else "kept as history (no change)"
    return f"{what}: {word} -> {state}, {suffix}"


def _timeline(
    t0: float, tasks: list[dict[str, Any]], received: list[dict[str, Any]], secret: str
) -> list[str]:
    signatures = _signatures(received, secret)
    lines = []
    for task in tasks:
        kind, tid = task["kind"], task["id"]
        # A claim and the poll that settled it are stored in one transaction, at one time.
        confirmed_at = {e["verdict_at"] for e in task["events"] if e["verdict"] == "confirmed"}
        for event in task["events"]:
            text = _event_text(event, confirmed_at, task)
            lines.append(_line(t0, event["received_at"], kind, tid, text))
        for d in task["deliveries"]:
            if d["delivered_at"]:
                check = signatures.get(d["id"], "unsigned")
                text = (
                    f"delivered to {d['downstream']} (HTTP {d['last_status']}, "
                    f"attempt {d['attempts']}, {check})"
                )
                lines.append(_line(t0, d["delivered_at"], kind, tid, text))
    return [text for _, text in sorted(lines)]


def run_demo() -> int:
    logs.configure("warning")
    env = new_secrets("demo-")
    admin, webhook_secret = env["RECEIVER_ADMIN_TOKEN"], env[SINK_SECRET_ENV]
    try:
        with (
            tempfile.TemporaryDirectory(prefix="runway-relay-demo-") as tmp,
            LocalStack(Path(tmp), env, _downstreams) as stack,
        ):
            click.echo("runway-relay demo: everything runs on 127.0.0.1")
            click.echo(
                f"  CometAPI simulator {stack.simulator.url}\n"
                f"  downstream sink    {stack.sink.url}\n"
                f"  relay              {stack.relay.url}   (SQLite {tmp}/relay.db)\n"
            )
            return _drive(stack.relay.url, stack.sink.url, admin, webhook_secret)
    except StackError as exc:  # a server that did not start: one line, not a traceback
        click.echo(f"receiver: {exc}", err=True)
        return 2


def _drive(relay_url: str, sink_url: str, admin: str, webhook_secret: str) -> int:
    headers = {"Authorization": f"Bearer {admin}"}
    t0 = time.time()
    with httpx.Client(base_url=relay_url, headers=headers, timeout=10) as client:
        # Ready first: the store migrated and the API's routes built (the first /readyz
        # builds them; on a busy machine, from source, that may take longer than a request).
        client.get("/readyz", timeout=_TIMEOUT).raise_for_status()
        submitted = [client.post("/v1/tasks", json=task) for task in _TASKS]
        for response in submitted:
            if response.status_code != 202:
                click.echo(f"submit failed: HTTP {response.status_code} {response.text}")
                return 1
        ids = [r.json()["id"] for r in submitted]
        deadline = time.time() + _TIMEOUT
        while True:
            tasks = [client.get(f"/v1/tasks/{i}").json() for i in ids]
            done = all(
                t["terminal_at"]
                and t["deliveries"]
                # A delivery waiting for the media copies (`mirroring`) is not done either.
                and all(d["state"] not in ("pending", "mirroring") for d in t["deliveries"])
                for t in tasks
            )
            if done or time.time() > deadline:
                break
            time.sleep(0.25)
    received = httpx.get(f"{sink_url}/_sink/received").json()
    click.echo(
        "timeline (submitted -> callback received -> confirmed by CometAPI / polled"
        " -> persisted -> delivered):"
    )
    for line in _timeline(t0, tasks, received, webhook_secret):
        click.echo(line)
    click.echo("")
    ok = done and all(
        t["state"] == "succeeded" and all(d["state"] == "succeeded" for d in t["deliveries"])
        for t in tasks
    )
    for t in tasks:
        click.echo(f"  {t['kind']:<15} {t['state']:<10} outputs: {', '.join(t['outputs'])}")
    for hit in received:
        media = (hit.get("json") or {}).get("data", {}).get("media") if hit.get("json") else None
        if media and hit["path"] == "/hooks/relay" and media.get("files"):
            for f in media["files"]:
                click.echo(
                    f"  mirrored {f['role']:<6} {f['bytes']:>6} bytes  sha256 {f['sha256'][:16]}…"
                    f"  {f['url']}"
                )
            break
    click.echo(f"\ndemo {'passed' if ok else 'FAILED'}: {len(received)} deliveries at the sink")
    return 0 if ok else 1
