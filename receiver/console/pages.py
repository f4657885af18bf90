"""The console's read-only pages: home, the task list, one task, the deliveries; and the
live stream that keeps them current."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from receiver.config import Downstream
from receiver.console import chart, views
from receiver.console.core import Console, Form, refuse_nul_in_address
from receiver.console.endpoint_form import EXAMPLE_TYPES
from receiver.console.session import Session
from receiver.deliveries import actions as delivery_actions
from receiver.deliveries import reads as delivery_reads
from receiver.downstreams import listing
from receiver.downstreams import transactions as downstream_transactions
from receiver.downstreams.directory import Held
from receiver.downstreams.manage import describe_any
from receiver.kernel.errors import MalformedRequest, NotFound
from receiver.kernel.http.models import answerable_metadata
from receiver.lifecycle.rules.records import TaskFilter
from receiver.lifecycle.rules.task import STATES, is_callback
from receiver.operator import queries
from receiver.outbox.rules.delivery import owner_of, shown_name
from receiver.stream.caps import Holder
from receiver.stream.changes import ChangeHub
from receiver.stream.route import stream_response
from receiver.tasks import actions as task_actions
from receiver.tasks import reads as task_reads

PAGE_SIZE = 25
DOWNSTREAMS_PAGE = 50  # rows of the downstreams' table, then a "Next" link


def _pretty_raw(raw: str) -> str:
    """A stored body as JSON people can read, or as it came when it is not JSON."""
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False, sort_keys=True)
    except ValueError:
        return raw


def _filters(request: Request, apps: dict[str, str]) -> tuple[TaskFilter, dict[str, str]]:
    """The list's filters; `apps`: each live app's id by its name, for the app filter."""
    q = request.query_params
    shown = {name: q.get(name, "").strip() for name in ("state", "kind", "since", "q", "app")}
    if shown["app"] and shown["app"] not in apps:
        raise MalformedRequest("app must be the name of a live app")
    if shown["state"] and shown["state"] not in STATES:
        raise MalformedRequest(f"state must be one of {', '.join(STATES)}")
    if shown["kind"] and shown["kind"] not in views.KINDS:
        raise MalformedRequest(f"kind must be one of {', '.join(views.KINDS)}")
    if len(shown["q"]) > 200:
        raise MalformedRequest("the search text is limited to 200 characters")
    before = q.get("before") or None
    if before is not None and (len(before) > 64 or not before.isprintable()):
        raise MalformedRequest("before must be a task id")
    wanted = TaskFilter(
        state=shown["state"] or None,
        kind=shown["kind"] or None,
        since=views.parse_when(shown["since"], "since"),
        text=shown["q"] or None,
        before=before,
        owner_key=apps[shown["app"]] if shown["app"] else None,
    )
    return wanted, shown


class Pages:
    def __init__(self, console: Console, changes: ChangeHub) -> None:
        self.console = console
        self.changes = changes  # the live stream's feed

    async def home(self, request: Request, session: Session) -> Response:
        directory, retention = self.console.directory, self.console.retention
        now = time.time()
        # Every downstream's health, the config file's and those made through the API (their
        # names read from the store, none opened).
        made = await downstream_transactions.made_names(self.console.store)
        since, names = now - chart.HOURS * 3600, [*directory.configured, *made]
        seen = await queries.overview(self.console.store, since, names, recent=8)
        pulled = {h.name for h in seen.health if directory.pulled_of(h)}
        return self.console.render(
            request,
            "home.html",
            session,
            nav="home",
            stream=self.console.stream_url(request, now),
            counts=seen.counts,
            states=STATES,
            tasks_chart=chart.tasks_chart(seen.activity, now),
            latency_chart=chart.latency_chart(
                seen.activity, now, directory.shown_name, pulled.__contains__
            ),
            health=seen.health,
            recent=seen.recent,
            retention_days=retention.task_days if retention.enabled else None,
        )

    async def tasks(
        self,
        request: Request,
        session: Session,
        form: Form | None = None,
        errors: dict[str, str] | None = None,
        general: list[str] | None = None,
    ) -> Response:
        """The task list with its submit form; a refused submission shows it again, with
        what was typed and the reasons (`errors` by field, `general` for the rest)."""
        now = time.time()
        apps = {app.name: app.id for app in await self.console.keys.apps()}
        wanted, shown = _filters(request, apps)
        found = await task_actions.list_tasks(
            self.console.store, wanted, PAGE_SIZE, self.console.server.search_window
        )
        given = {k: v for k, v in shown.items() if v}
        older = f"?{urlencode({**given, 'before': found.next})}" if found.next is not None else None
        newest = f"?{urlencode(given)}" if wanted.before else None
        return self.console.render(
            request,
            "tasks.html",
            session,
            status=422 if errors or general else 200,
            nav="tasks",
            stream=self.console.stream_url(request, now),
            tasks=found.tasks,
            filters=shown,
            states=STATES,
            kinds=views.KINDS,
            apps=sorted(apps),
            older=older,
            newest=newest,
            window_reached=found.window_reached,
            search_window=f"{self.console.server.search_window:,}",
            kind_groups=views.KIND_GROUPS,
            form=form
            or {"kind": "video2video", "prompt": "", "source": "", "model": "", "options": ""},
            errors=errors or {},
            general=general or [],
            idempotency_key=secrets.token_urlsafe(16),
        )

    async def task(self, request: Request, session: Session) -> Response:
        now = time.time()
        task_id = request.path_params["task_id"]
        detail = await task_reads.task_detail(self.console.store, task_id, task_reads.HISTORY)
        if detail is None:
            raise NotFound("no such task")
        task, events, bodies = detail.task, detail.events, detail.documents
        owner = task.owner_key
        app = (await self.console.keys.app_names([owner])).get(owner) if owner else None
        documents = [bodies[e.id][0] for e in events if e.id in bodies]
        raw_events = [
            (e, bodies[e.id][0], _pretty_raw(bodies[e.id][1])) for e in events if e.id in bodies
        ]
        return self.console.render(
            request,
            "task.html",
            session,
            nav="tasks",
            stream=self.console.stream_url(request, now, task.id),
            task=task,
            metadata=answerable_metadata(task.metadata),
            app=app,
            timeline=views.timeline(
                task, events, detail.attempts, detail.sends, self.console.directory.shown_name
            ),
            submission=views.submission(task),
            offset=views.offset,
            media=views.media_of(task, documents),
            deliveries=detail.deliveries,
            events_by_id={e.id: e for e in events},  # each delivery's event, by its id
            event_types={e.id: views.event_type(bodies.get(e.id, ({},))[0], e) for e in events},
            raw_events=raw_events,
            # A waiting task is cancelled here, whatever its kind; CometAPI cancels only
            # official-format tasks.
            cancellable=not task.ended
            and (task.submission == "waiting" or not is_callback(task.kind)),
        )

    async def deliveries(
        self,
        request: Request,
        session: Session,
        secret: dict[str, Any] | None = None,
        kept: dict[str, str] | None = None,
        create_error: str = "",
        only: str | None = None,
    ) -> Response:
        """The downstreams whose name holds `q` (`APP/part`: that app's whose name holds
        part), a table a page at a time by name, read through the store's indexes; or one
        (`only`, else the `downstream` asked), its card with its dead and retrying deliveries."""
        now = time.time()
        q = request.query_params
        only = only or q.get("downstream") or None
        directory, store = self.console.directory, self.console.store
        search = (q.get("q") or "").strip()
        if len(search) > 200:
            raise MalformedRequest("q is a name, of 200 characters at most")
        at = listing.position_of(q.get("cursor"))
        page = None
        if only:
            names = [await delivery_actions.known_downstream(directory, only)]
        else:
            owner, part = await self._searched(search)
            page = await listing.read_page(store, directory, owner, at, DOWNSTREAMS_PAGE, part)
            names = [h.name for h in page.health]
        found = await queries.backlogs(store, names, 50) if only else []
        opened = page.found if page else await directory.found(names)
        polled = [n for n in names if isinstance(d := opened.get(n), Downstream) and d.pulled]
        readable = await delivery_reads.pullable(store, polled)
        shown = [(b.health, b.dead, b.retrying) for b in found]
        # An app's downstream is shown with its app (and under `<app id>.<name>`).
        owners = {n: o for n in names if (o := owner_of(n)) is not None}
        app_names = await self.console.keys.app_names(sorted(set(owners.values())))
        formats = {n: d.format for n in names if isinstance(d := opened.get(n), Downstream)}
        return self.console.render(
            request,
            "deliveries.html",
            session,
            status=422 if create_error else 200,
            nav="deliveries",
            stream=self.console.stream_url(request, now),
            downstreams=shown,
            rows=page.health if page else [],  # the table's, without `downstream`
            q=search,
            first=bool(q.get("cursor")),
            next=listing.cursor_of(page.next) if page and page.next else None,
            formats=formats,
            readable=readable,  # a pull downstream's events to read, by its name
            # the name its app reads it by (`/v1/downstreams/{name}/events`, with the app's key)
            pull_names={n: shown_name(n) for n in polled},
            public_url=self.console.public_url,
            apps={n: app_names.get(o, "") for n, o in owners.items()},
            # made through the API (its secret opening or not)
            managed={
                n for n in names if not isinstance(d := opened.get(n), Downstream) or d.managed
            },
            unusable={n: d.reason for n in names if isinstance(d := opened.get(n), Held)},
            only=only,
            secret=secret,
            kept=kept or {},
            create_error=create_error,
            example_types=EXAMPLE_TYPES,
            # Each one's settings as the API shows them: header values and secrets masked.
            settings={n: describe_any(d, None, now) for n, d in opened.items()} if only else {},
        )

    async def _searched(self, search: str) -> tuple[str | None, str]:
        """Whose downstreams a search reads, and the part of their names it looks for: an
        app's own for `APP/part` (no app of that name: none), else every one."""
        app, slash, part = search.partition("/")
        if not slash:
            return None, search
        try:
            return (await self.console.keys.app(app)).id, part
        except NotFound:
            return "", part

    async def stream(self, request: Request) -> Response:
        # Not a page: a plain 401, not the login form, so the browser's EventSource stops.
        session = await self.console.session_of(request)
        if session is None:
            return Response("log in first", status_code=401, media_type="text/plain")
        refuse_nul_in_address(request)
        task_id = request.query_params.get("task_id") or None
        if task_id is not None and len(task_id) > 64:
            raise MalformedRequest("task_id is too long")
        # Ends with the session: at its logout (on any replica) or at its end.
        holder = Holder(session_id=session.id, until=session.expires_at)
        return stream_response(request, self.changes, task_id, holder=holder)
