"""The portal's pages for one app: its endpoints (a table, with the form that makes one and
its live preview), each endpoint's own page, its delivery log with each delivery's
attempts, and its tasks. Each shows only what the app's own keys with `downstreams` and
`tasks:read` would see through the API: another app's ids are no such thing (404)."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from receiver.alerts import transactions as alerts
from receiver.console.endpoint_form import EXAMPLE_TYPES
from receiver.console.session import Session
from receiver.deliveries import actions as delivery_actions
from receiver.deliveries import reads as delivery_reads
from receiver.deliveries.sample_event import SENDABLE
from receiver.downstreams import listing
from receiver.downstreams import manage as managed
from receiver.downstreams import transactions as downstream_transactions
from receiver.downstreams.directory import Directory, is_pulled
from receiver.kernel.errors import MalformedRequest, NotFound
from receiver.lifecycle.rules.records import TaskFilter
from receiver.lifecycle.rules.task import STATES
from receiver.outbox.rules.delivery import DeliveryFilter, owned_name, shown_name
from receiver.portal.core import Portal, caller_of
from receiver.tasks import actions as task_actions
from receiver.tasks import reads as task_reads
from receiver.tasks.detail import own

PAGE_SIZE = 25
DELIVERIES_PAGE = 50  # rows of the deliveries page, then an "Older" link
ENDPOINTS_PAGE = 50  # rows of the endpoints page, then a "Next" link
NEWEST_DELIVERIES = 10  # on an endpoint's page, then a link to all of them
DELIVERY_STATES = ("pending", "succeeded", "dead", "held", "filtered", "superseded", "mirroring")


async def own_name(directory: Directory, session: Session, name: str) -> str:
    """The name the app's endpoint is kept under; 404 when the app has none of that name."""
    caller = caller_of(session).caller
    kept = managed.kept_name(caller, name)
    if not managed.sees(caller, kept) or not await directory.knows(kept):
        raise NotFound(f"no endpoint named {name!r}")
    return kept


class Pages:
    def __init__(self, portal: Portal) -> None:
        self.portal = portal

    async def endpoints(
        self,
        request: Request,
        session: Session,
        kept: dict[str, str] | None = None,
        error: str = "",
    ) -> Response:
        """The app's endpoints whose name holds `q`, a page at a time by name after `after`;
        the new endpoint's form above (`kept`: what a refused one was typed with, `error`)."""
        q = request.query_params
        search, after = (q.get("q") or "").strip(), q.get("after") or ""
        if len(search) > 64 or len(after) > 64 or not after.isprintable():
            raise MalformedRequest("q and after are names, of 64 characters at most")
        caller = caller_of(session).caller
        directory, store = self.portal.directory, self.portal.store
        # Only the app's own rows are read, keyed by the app and the name it gave them: no
        # other app's (nor a global) downstream of the same name can stand in for one.
        at = listing.Position(managed.kept_name(caller, after) if after else "")
        owner = caller.owner_filter
        page = await listing.read_page(store, directory, owner, at, ENDPOINTS_PAGE, search)
        names = [h.name for h in page.health]
        last = await delivery_reads.last_delivered_to(store, names)
        shown = [
            {
                **each,
                "name": shown_name(each["name"]),
                "pulled": is_pulled(page.found.get(each["name"])),
                "last_delivered": last.get(each["name"]),
            }
            for each in listing.described(directory, page, time.time())
        ]
        prefix = owned_name(owner or "", "")
        every = [shown_name(n) for n in await downstream_transactions.owned_names(store, prefix)]
        return self.portal.render(
            request,
            "endpoints.html",
            session,
            status=422 if error else 200,
            nav="endpoints",
            endpoints=shown,
            every=every,  # every name of the app's own, for the alerts' choice
            q=search,
            after=after,
            next=None if page.next is None else shown_name(page.next.made),
            kept=kept or {},
            error=error,
            example_types=EXAMPLE_TYPES,
            alert_downstream=await alerts.chosen(self.portal.store, caller_of(session).app.id),
        )

    async def endpoint(
        self,
        request: Request,
        session: Session,
        name: str | None = None,
        secret: dict[str, Any] | None = None,
        tested: dict[str, Any] | None = None,
        refused: dict[str, str] | None = None,
    ) -> Response:
        """One endpoint's page (`name`: as the app named it), its settings, forms and newest
        deliveries; with a secret made, a test event's answer, or why an edit was refused."""
        name = name or request.path_params["name"]
        kept = await own_name(self.portal.directory, session, name)
        directory, store = self.portal.directory, self.portal.store
        row, health = await downstream_transactions.with_health(store, kept)
        endpoint = await directory.find(kept)
        if endpoint is None:  # its settings no longer pass (its row says why, in the log)
            raise NotFound(f"no endpoint named {name!r}")
        pulled = is_pulled(endpoint)
        readable = await delivery_reads.pullable(store, [kept] if pulled else [])
        caller = caller_of(session).caller
        wanted = DeliveryFilter(downstream=name, limit=NEWEST_DELIVERIES)
        found = await delivery_actions.deliveries_for(store, caller, wanted)
        shown = {
            **directory.summary(health),
            **managed.describe_any(endpoint, row, time.time()),
            "name": name,
            # read by its app: no address, no signature, nothing sent to test
            "pulled": pulled,
        }
        return self.portal.render(
            request,
            "endpoint.html",
            session,
            status=422 if refused else 200,
            nav="endpoints",
            e=shown,
            readable=readable.get(kept, 0),  # a pull endpoint's events to read
            deliveries=own(caller, found),
            types=await delivery_reads.types_of(store, found),
            public_url=self.portal.public_url,
            secret=secret,
            tested=tested,
            refused=refused or {},  # an edit refused: why
            example_types=EXAMPLE_TYPES,
            test_types=sorted(SENDABLE),
        )

    async def deliveries(self, request: Request, session: Session) -> Response:
        q = request.query_params
        state = q.get("state") or None
        if state is not None and state not in DELIVERY_STATES:
            raise MalformedRequest(f"state must be one of {', '.join(DELIVERY_STATES)}")
        endpoint = q.get("endpoint") or None
        if endpoint is not None:
            await own_name(self.portal.directory, session, endpoint)
        task = q.get("task") or None  # one task's (another app's shows none)
        if task is not None and (len(task) > 64 or not task.isprintable()):
            raise MalformedRequest("task must be a task id")
        before = q.get("before") or None
        if before is not None and (len(before) > 64 or not before.isprintable()):
            raise MalformedRequest("before must be a delivery id")
        caller = caller_of(session).caller
        wanted = DeliveryFilter(state, endpoint, task, limit=DELIVERIES_PAGE + 1, before=before)
        found = await delivery_actions.deliveries_for(self.portal.store, caller, wanted)
        # One more than a page asked: whether an older page follows.
        found, more = found[:DELIVERIES_PAGE], len(found) > DELIVERIES_PAGE
        tasks = await task_reads.tasks_of(self.portal.store, [d.task_id for d in found])
        types = await delivery_reads.types_of(self.portal.store, found)
        return self.portal.render(
            request,
            "deliveries.html",
            session,
            nav="deliveries",
            deliveries=own(caller, found),  # by the names the app gave its endpoints
            state=state or "",
            endpoint=endpoint or "",
            task=task or "",
            tasks={i: t for i, t in tasks.items() if caller.owns(t.owner_key)},
            types=types,
            states=DELIVERY_STATES,
            next=found[-1].id if more else None,
            newest=before is not None,
        )

    async def delivery(self, request: Request, session: Session) -> Response:
        delivery_id = request.path_params["delivery_id"]
        caller = caller_of(session).caller
        found = await delivery_actions.app_delivery(self.portal.store, caller, delivery_id)
        [d] = own(caller, [found])
        detail = await task_reads.task_detail(self.portal.store, d.task_id)
        attempts = [a for a in (detail.attempts if detail else []) if a.delivery_id == d.id]
        return self.portal.render(
            request,
            "delivery.html",
            session,
            nav="deliveries",
            delivery=d,
            task=detail.task if detail and caller.owns(detail.task.owner_key) else None,
            attempts=sorted(attempts, key=lambda a: a.number),
        )

    async def task(
        self, request: Request, session: Session, shared: dict[str, Any] | None = None
    ) -> Response:
        """One of the app's tasks with its deliveries (another app's is no such task: 404)."""
        caller = caller_of(session).caller
        task = await task_actions.task_of(self.portal.store, request.path_params["task_id"], caller)
        detail = await task_reads.task_detail(self.portal.store, task.id)
        deliveries = own(caller, detail.deliveries) if detail else []
        events = {e.id: e for e in detail.events} if detail else {}
        return self.portal.render(
            request,
            "task.html",
            session,
            nav="tasks",
            task=task,
            deliveries=deliveries,
            events=events,
            shared=shared,
        )

    async def tasks(
        self, request: Request, session: Session, shared: dict[str, Any] | None = None
    ) -> Response:
        q = request.query_params
        state = q.get("state") or None
        if state is not None and state not in STATES:
            raise MalformedRequest(f"state must be one of {', '.join(STATES)}")
        before = q.get("before") or None
        if before is not None and (len(before) > 64 or not before.isprintable()):
            raise MalformedRequest("before must be a task id")
        caller = caller_of(session).caller
        wanted = TaskFilter(state=state, before=before, owner_key=caller.app_id or "")
        page = await task_actions.list_tasks(
            self.portal.store, wanted, PAGE_SIZE, self.portal.server.search_window
        )
        return self.portal.render(
            request,
            "tasks.html",
            session,
            nav="tasks",
            tasks=page.tasks,
            next=page.next,
            state=state or "",
            states=STATES,
            shared=shared,
        )
