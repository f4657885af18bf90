"""`receiver listen`: an app's events, read from its pull downstream with its key (no
public URL needed), forwarded signed to a local server. The cursor is kept per relay, app
and downstream (listen_state.py), so a restart resumes after the last event forwarded.
Whatever goes wrong is one line; what the relay sent is printed without a terminal's
escapes. httpx is imported only when the command runs."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from receiver.cli.common import fail, printable, typed_secret
from receiver.cli.listen_state import MAX_CURSOR_CHARS, OLD_STATE, State, default_path, entry_key
from receiver.cli.remote import KEY_ENV
from receiver.kernel.secrets.signing import headers, new_secret, parse_secret

if TYPE_CHECKING:
    import httpx

SECRET_ENV = "RECEIVER_LISTEN_SECRET"
WAIT_SECONDS = 25
MAX_BACKOFF_SECONDS = 30.0
# An answer of the relay is read up to this, never whole: a page of events is far smaller.
MAX_ANSWER_BYTES = 4 * 1024 * 1024
PAGE_EVENTS = 100  # asked for at a time; fewer after an answer over the bound
_DELIVERY_ID = re.compile(r"^msg_[A-Za-z0-9_.:-]{1,124}$")


class BadAnswer(Exception):
    """An answer of the relay that cannot be read: why, in words."""


class TooBig(BadAnswer):
    """An answer over MAX_ANSWER_BYTES, left unread past it."""


def message_id(given: Any, body: bytes) -> str:
    """The `webhook-id` the relay gave the event (its delivery's id, `msg_…`, as a
    delivery of it carries), else one made from its body (a relay that gives none, or an id
    that could not be a header's value)."""
    if isinstance(given, str) and _DELIVERY_ID.match(given):
        return given
    return "msg_" + hashlib.sha256(body).hexdigest()[:24]


def line(event: dict[str, Any], status: int, seconds: float) -> str:
    """One terminal line: the time, the type, the task, the local answer and its time."""
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    task = printable(str((data or {}).get("task_id") or "-"))[:64]
    kind = printable(str(event.get("type", "-")))[:40]
    at = time.strftime("%H:%M:%S")
    return f"{at}  {kind:<22} {task}  -> {status} in {seconds * 1000:.0f} ms"


class Backoff:
    def __init__(self) -> None:
        self.seconds = 1.0

    def said(self, what: str) -> None:
        """One line, then the wait before the next try, doubled for the one after."""
        click.echo(f"{printable(what)}; retrying in {self.seconds:g}s", err=True)
        time.sleep(self.seconds)
        self.seconds = min(self.seconds * 2, MAX_BACKOFF_SECONDS)

    def unreachable(self, what: str, exc: Exception) -> None:
        self.said(f"{what} unreachable ({type(exc).__name__})")

    def reset(self) -> None:
        self.seconds = 1.0


def read(relay: httpx.Client, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    """The relay's answer: its status and its JSON (None when it is no JSON), read up to
    MAX_ANSWER_BYTES as it comes; BadAnswer past that, or in an encoding not asked for."""
    with relay.stream(method, path, **kwargs) as answer:
        if answer.headers.get("content-encoding", "identity") != "identity":
            raise BadAnswer("the relay answered in an encoding it was not asked for")
        body = bytearray()
        for chunk in answer.iter_raw():
            body += chunk
            if len(body) > MAX_ANSWER_BYTES:
                raise TooBig(f"the relay's answer is over {MAX_ANSWER_BYTES >> 20} MiB")
        status = answer.status_code
    try:
        return status, json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python goes
        return status, None


def detail(status: int, found: Any) -> str:
    """What a refusal says: its `detail` when it has one, cut short."""
    said = found.get("detail") if isinstance(found, dict) else None
    return f"{status}: {str(said)[:200]}" if said else str(status)


def page_of(found: Any) -> tuple[list[dict[str, Any]], str, list[Any]]:
    """The events of a page, the cursor after them and their delivery ids (none from an
    older relay); BadAnswer for anything else."""
    if not isinstance(found, dict):
        raise BadAnswer("the relay's answer is no JSON object")
    events, after = found.get("data"), found.get("next")
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise BadAnswer("the relay's answer has no list of events")
    if not isinstance(after, str) or not 0 < len(after) <= MAX_CURSOR_CHARS:
        raise BadAnswer("the relay's answer has no cursor to go on from")
    ids = found.get("ids")
    return events, after, ids if isinstance(ids, list) and len(ids) == len(events) else []


def _downstream(relay: httpx.Client, name: str) -> None:
    """The app's pull downstream `name`, made when missing. The first contact: a server
    that answers it with no JSON (a 5xx aside: a proxy's page while the relay restarts) or
    with JSON that is no downstream is no relay, and trying it again would not make one."""
    status, found = read(relay, "GET", f"/v1/downstreams/{name}")
    no_downstream = status == 200 and not (isinstance(found, dict) and "format" in found)
    if (found is None and status < 500) or no_downstream:
        fail(
            f"{relay.base_url} is not a relay: it answered {status} without a relay's JSON"
            f" to GET /v1/downstreams/{name}",
            status=1,
        )
    if status == 404:
        status, made = read(relay, "POST", "/v1/downstreams", json={"name": name, "format": "pull"})
        if status != 201:
            fail(f"could not make the pull downstream {name!r}: {detail(status, made)}")
        click.echo(f"made the pull downstream {name!r} of this key's app")
        return
    if status in (401, 403):
        fail(f"the relay refused the key ({detail(status, found)}): check ${KEY_ENV}")
    if status != 200 or not isinstance(found, dict):
        raise BadAnswer(f"the relay answered {detail(status, found)} for the downstream")
    if found.get("format") != "pull":
        fail(f"{name!r} is a {found.get('format')} downstream: name a pull one")


def _forward(
    local: httpx.Client, to: str, secret: str, event: dict[str, Any], given_id: Any
) -> None:
    """Post one event to the local server, signed, until it answers (any status; its body
    is not read)."""
    import httpx

    body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
    backoff = Backoff()
    while True:
        signed = headers([secret], message_id(given_id, body), int(time.time()), body)
        started = time.monotonic()
        try:
            sent = {**signed, "content-type": "application/json"}
            with local.stream("POST", to, content=body, headers=sent) as answer:
                status = answer.status_code
        except httpx.HTTPError as exc:
            backoff.unreachable(f"local server at {to}", exc)
            continue
        click.echo(line(event, status, time.monotonic() - started))
        return


def _api_key() -> str:
    """The app's key: $RECEIVER_API_KEY, else asked for (never an argument, which `ps` and
    the shell's history would show)."""
    from receiver.kernel.observability.logs import add_secrets

    key = os.environ.get(KEY_ENV, "").strip() or typed_secret("The app's API key").strip()
    if not key:
        fail(f"no key: set ${KEY_ENV} to the app's API key, or type it at the prompt")
    add_secrets([key])
    return key


def _refuse_on_argv(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        env = KEY_ENV if param.name == "key" else SECRET_ENV
        fail(f"--{param.name} would show it to `ps` and the shell's history: set ${env}")


def _signing_secret(state: State) -> None:
    """The secret the local server verifies with: $RECEIVER_LISTEN_SECRET, else the one
    kept for this relay, app and downstream, else a new one, printed this once."""
    given = os.environ.get(SECRET_ENV, "").strip()
    if given:
        try:
            parse_secret(given)
        except ValueError as exc:
            fail(f"${SECRET_ENV}: {exc}")
        state.secret = given
    elif state.secret is None:
        state.secret = new_secret()
        click.echo(f"signing secret (verify with it): {state.secret}")


def _save(state: State) -> None:
    try:
        state.save()
    except OSError as exc:
        fail(f"cannot write the state file {state.path}: {exc.strerror}")


@click.command()
@click.option("--relay", "relay_url", required=True, envvar="RECEIVER_URL", help="The relay's URL.")
@click.option("--key", callback=_refuse_on_argv, expose_value=False, hidden=True, help="Refused.")
@click.option(
    "--secret", callback=_refuse_on_argv, expose_value=False, hidden=True, help="Refused."
)
@click.option(
    "--forward-to", "forward_to", required=True, help="The local URL each event is posted to."
)
@click.option(
    "--downstream", default="listen", show_default=True, help="The app's pull downstream read."
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where the cursors are kept (default: $XDG_STATE_HOME/runway-relay/listen.json,"
    " else ~/.local/state/runway-relay/listen.json).",
)
def listen(relay_url: str, forward_to: str, downstream: str, state_path: Path | None) -> None:
    """Forward an app's events to a local URL, signed.

    Signed as the relay signs them.

    The app's key (scope `downstreams`) comes from $RECEIVER_API_KEY, else a prompt; the
    signing secret from $RECEIVER_LISTEN_SECRET, else the one kept, else a new one."""
    import httpx

    key = _api_key()
    if OLD_STATE.is_file():
        click.echo(f"{OLD_STATE} is an older release's state, with its secret: delete it", err=True)
    state = State.read(state_path or default_path(), entry_key(relay_url, key, downstream))
    if state.unread:
        click.echo(f"the state file {state.path} {state.unread}: starting afresh", err=True)
    _signing_secret(state)
    _save(state)
    # Not compressed: the bound on an answer is on what arrives.
    sent = {"authorization": f"Bearer {key}", "accept-encoding": "identity"}
    backoff = Backoff()
    with (
        httpx.Client(base_url=relay_url, headers=sent, timeout=WAIT_SECONDS + 10) as relay,
        httpx.Client(timeout=30) as local,
    ):
        while True:
            try:
                _downstream(relay, downstream)
                break
            except httpx.HTTPError as exc:
                backoff.unreachable(f"relay at {relay_url}", exc)
            except BadAnswer as exc:
                backoff.said(str(exc))
        click.echo(f"forwarding {downstream!r} to {forward_to} (Ctrl-C ends)")
        backoff.reset()
        _follow(relay, local, relay_url, forward_to, downstream, state, backoff)


def _follow(
    relay: httpx.Client,
    local: httpx.Client,
    relay_url: str,
    forward_to: str,
    downstream: str,
    state: State,
    backoff: Backoff,
) -> None:
    """Page after page, each event forwarded before the cursor after it is kept."""
    import httpx

    assert state.secret is not None
    limit = PAGE_EVENTS
    path = f"/v1/downstreams/{downstream}/events"
    while True:
        params: dict[str, str | int] = {"wait": WAIT_SECONDS, "limit": limit}
        if state.after:
            params["after"] = state.after
        try:
            status, found = read(relay, "GET", path, params=params)
            page = page_of(found) if status == 200 else None
        except httpx.HTTPError as exc:
            backoff.unreachable(f"relay at {relay_url}", exc)
            continue
        except TooBig as exc:
            if limit == 1:
                fail(f"{exc} for a single event: it cannot be forwarded")
            limit = max(1, limit // 4)
            click.echo(f"{exc}: asking for {limit} events at a time", err=True)
            continue
        except BadAnswer as exc:
            backoff.said(str(exc))
            continue
        if page is None:
            _refused(status, found, state, backoff)
            continue
        backoff.reset()
        events, after, ids = page
        for i, event in enumerate(events):
            _forward(local, forward_to, state.secret, event, ids[i] if ids else None)
        state.after = after
        _save(state)


def _refused(status: int, found: Any, state: State, backoff: Backoff) -> None:
    """An answer other than a page: a kept cursor refused starts over from the first event
    kept; a refusal of the key or the name ends the command; anything else is tried again."""
    if status == 400 and state.after:
        # A cursor of another relay, or of this one before its secret changed.
        said = detail(status, found)
        click.echo(f"the relay refused the kept cursor ({said}): starting over", err=True)
        state.after = None
        _save(state)
    elif status in (400, 401, 403, 404):
        fail(f"the relay answered {detail(status, found)}")
    else:
        backoff.said(f"the relay answered {detail(status, found)}")
