"""Every route of the relay's API, each described where it is declared.

`OPERATIONS` is the one table: the application's routes and `GET /openapi.json` are both
built from it, so a route cannot be served without being described (tests/e2e/test_openapi.py
checks that every route but the console's is in the document).
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import version
from typing import Any

from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.app.api import models as m
from receiver.app.api.openapi import (
    LIMIT_RETRY_AFTER,
    Body,
    Doc,
    Operation,
    Reply,
    admin_op,
    by_method,
    document,
)
from receiver.apps import api as apps
from receiver.apps.portal_links import OPERATIONS as PORTAL_LINKS
from receiver.callbacks.route import Callback
from receiver.catalog import api as catalog
from receiver.downstreams import api as d
from receiver.frontdoor import more as runway_more
from receiver.frontdoor import tasks as runwayml
from receiver.kernel.config import DownstreamChange, ManagedDownstreamConfig
from receiver.kernel.http.answers import Json
from receiver.media import api as media_routes
from receiver.operator import probes
from receiver.shares import api as shares
from receiver.tasks import api as h
from receiver.tasks import detail as task_detail
from receiver.tasks.submit import AnyTaskRequest

_ERR = m.ErrorAnswer


async def openapi_json(request: Request) -> Response:
    return Json(openapi())


_TASK_GONE = Reply(404, "No such task.", _ERR)
_NO_DOWNSTREAM = Reply(404, "No downstream of that name.", _ERR)
_FROM_CONFIG = Reply(409, "It comes from the config file: change it there.", _ERR)
_UPSTREAM = (
    Reply(502, "CometAPI refused or failed; `detail` has its message.", _ERR),
    Reply(504, "CometAPI did not answer in time.", _ERR),
)

OPERATIONS: tuple[Operation, ...] = (
    # First: the busiest route, matched before any other.
    Operation(
        "/callbacks/runway/{token}",
        ("POST",),
        Callback(),
        "inbound",
        "CometAPI's callback",
        "The `callback_url` the relay gives CometAPI with a `video2video` task. The body is"
        " read tolerantly: CometAPI's flat body or the `<code, msg, data>` envelope. It is"
        " kept as a claim and makes the relay ask CometAPI about the task; the answer says"
        " nothing about the task's state.",
        "signed",
        (
            Reply(200, "Stored (or an exact repeat).", m.CallbackAck),
            Reply(400, "Not JSON, or neither shape; `detail` says why.", _ERR),
            Reply(403, "The token is forged, tampered with, expired, or another task's.", _ERR),
            Reply(404, "The task is not known here.", _ERR),
            Reply(408, "The body did not arrive in time.", _ERR),
            Reply(413, "The body is over callbacks.max_body_bytes.", _ERR),
            Reply(503, "Not stored; send it again.", _ERR),
        ),
        params=m.TokenParams,
        body=Body(
            TypeAdapter(m.CallbackBody),
            "CallbackBody",
            "Loosely: the parser reads more than this, and every body is kept as sent.",
        ),
    ),
    admin_op(
        "/v1/tasks",
        "POST",
        h.create_task,
        m.SubmitParams,
        Doc(
            "tasks",
            "Submit a task",
            "Checked against CometAPI's published limits and stored in the submit queue, at"
            " once: a submit worker sends it when CometAPI has room (`upstream.max_concurrent_"
            "tasks`), and tries again while CometAPI is busy (429, 502, 503, 504, no answer)."
            " The callback kinds (`video2video`, `generate`, `act_one`) get the relay's own"
            " signed callback URL; the official-format kinds are polled. A refusal that will"
            " not change fails the task, as its events say.",
            (
                Reply(200, "An earlier submit with this Idempotency-Key: that task.", m.Submitted),
                Reply(202, "Queued (`state: queued`); it is sent to CometAPI next.", m.Submitted),
                Reply(400, "The body is not JSON, or a header is wrong.", _ERR),
                Reply(408, "The body did not arrive in time.", _ERR),
                Reply(409, "This Idempotency-Key came with another body.", _ERR),
                Reply(413, "The body is over 100 MiB.", _ERR),
                Reply(422, "The request breaks a limit; `detail` names every field.", _ERR),
                Reply(
                    429,
                    "The API key's `max_queued` or `max_per_day` is reached; `limit` says which.",
                    _ERR,
                    headers=LIMIT_RETRY_AFTER,
                ),
            ),
        ),
        body=Body(
            TypeAdapter(AnyTaskRequest),
            "TaskRequest",
            "A kind of the relay's table, named by `kind`: video2video has fields of its own;"
            " every other kind's body is CometAPI's own, passed on as sent (Runway's own"
            " routes need a `model`).",
        ),
        scope="tasks:submit",
    ),
    admin_op(
        "/v1/tasks",
        "GET",
        h.list_tasks,
        m.TaskListParams,
        Doc(
            "tasks",
            "List tasks",
            "Newest first, a page at a time: pass the answer's `next` as `before` for the next.",
            (Reply(200, "A page of tasks.", m.TaskPage),),
        ),
        scope="tasks:read",
    ),
    admin_op(
        "/v1/tasks/{task_id}",
        "GET",
        h.get_task,
        m.TaskIdParams,
        Doc(
            "tasks",
            "One task with its history",
            "State, outputs and cost; its place in the submit queue and every send to CometAPI;"
            " every event (callbacks with CometAPI's verdict on them), every delivery per"
            " downstream and every delivery attempt.",
            (Reply(200, "The task.", task_detail.TaskDetail), _TASK_GONE),
        ),
        scope="tasks:read",
    ),
    admin_op(
        "/v1/tasks/{task_id}",
        "DELETE",
        h.cancel_task,
        m.TaskIdParams,
        Doc(
            "tasks",
            "Cancel a task",
            "A task still waiting in the submit queue is cancelled here, at once: it never"
            " reaches CometAPI. Else an official-format task is cancelled at CometAPI, then"
            " recorded as cancelled; CometAPI documents no cancel for `video2video`: 409, as for"
            " a task that has ended or is being sent at this moment.",
            (
                Reply(200, "Cancelled.", m.TaskSummary),
                _TASK_GONE,
                Reply(409, "It cannot be cancelled; `detail` says why.", _ERR),
                *_UPSTREAM,
            ),
        ),
        scope="tasks:cancel",
    ),
    *runwayml.OPERATIONS,
    *runway_more.OPERATIONS,
    *apps.OPERATIONS,  # the keys' and the apps'
    *PORTAL_LINKS,
    *shares.OPERATIONS,
    admin_op(
        "/v1/deliveries",
        "GET",
        h.list_deliveries,
        m.DeliveryListParams,
        Doc(
            "deliveries",
            "List deliveries",
            "The outbox, newest first, one delivery per event and downstream; an app's own.",
            (Reply(200, "Deliveries.", m.DeliveryList),),
        ),
        scope="downstreams",
    ),
    admin_op(
        "/v1/deliveries/replay",
        "POST",
        h.replay_dead_letters,
        m.DeadLetterParams,
        Doc(
            "deliveries",
            "Replay a downstream's dead letters",
            "Queues every dead letter of the downstream for an attempt now.",
            (
                Reply(200, "How many were queued.", m.Replayed),
                _NO_DOWNSTREAM,
            ),
        ),
        scope="downstreams",
    ),
    admin_op(
        "/v1/deliveries/{delivery_id}/replay",
        "POST",
        h.replay_delivery,
        m.DeliveryIdParams,
        Doc(
            "deliveries",
            "Replay one delivery",
            "Queues the delivery for an attempt now, whatever its state.",
            (Reply(200, "Queued.", m.Replayed), Reply(404, "No such delivery.", _ERR)),
        ),
        scope="downstreams",
    ),
    admin_op(
        "/v1/downstreams",
        "GET",
        d.list_downstreams,
        m.NoParams,
        Doc(
            "downstreams",
            "Every downstream, with its health",
            "The config file's and those made through the API: settings (never a secret),"
            " breaker state, disabled or not (since when, why), failing since, deliveries by"
            " state.",
            (Reply(200, "Every downstream.", m.DownstreamList),),
        ),
        scope="downstreams",
    ),
    admin_op(
        "/v1/downstreams",
        "POST",
        d.create_downstream,
        m.NoParams,
        Doc(
            "downstreams",
            "Make a downstream",
            "In use on every replica within a tick, and kept across restarts. Its signing secret"
            " is made here, shown in this answer only, and stored sealed. A URL must reach a"
            " public address (unless `delivery.allow_private_networks`), also after DNS at"
            " connect time.",
            (
                Reply(201, "Made; `secret` is shown this once.", m.DownstreamCreated),
                Reply(400, "The body is not JSON.", _ERR),
                Reply(409, "The name is taken (by the config file or the API).", _ERR),
                Reply(413, "The body is over 64 KiB.", _ERR),
                Reply(422, "A setting breaks a rule; `detail` names every field.", _ERR),
            ),
        ),
        body=Body(
            TypeAdapter(ManagedDownstreamConfig),
            "DownstreamSettings",
            "The settings of a `[[downstream]]` in the config file, with `url` given here.",
        ),
        scope="downstreams",
    ),
    *catalog.OPERATIONS,  # before /v1/downstreams/{name}, which would take "preview"
    admin_op(
        "/v1/downstreams/{name}",
        "GET",
        d.get_downstream,
        m.DownstreamParams,
        Doc(
            "downstreams",
            "One downstream",
            "Its settings (never its secret) and health.",
            (Reply(200, "The downstream.", m.DownstreamDetail), _NO_DOWNSTREAM),
        ),
        scope="downstreams",
    ),
    admin_op(
        "/v1/downstreams/{name}",
        "PATCH",
        d.change_downstream,
        m.DownstreamParams,
        Doc(
            "downstreams",
            "Change a downstream made through the API",
            "The fields given replace its settings (the name stays); the whole is checked again.",
            (
                Reply(200, "Changed.", m.DownstreamDetail),
                Reply(400, "The body is not JSON.", _ERR),
                _NO_DOWNSTREAM,
                _FROM_CONFIG,
                Reply(413, "The body is over 64 KiB.", _ERR),
                Reply(422, "A setting breaks a rule; `detail` names every field.", _ERR),
            ),
        ),
        body=Body(
            TypeAdapter(DownstreamChange),
            "DownstreamChange",
            "Any settings of `DownstreamSettings` but `name`.",
        ),
        scope="downstreams",
    ),
    admin_op(
        "/v1/downstreams/{name}",
        "DELETE",
        d.remove_downstream,
        m.DownstreamParams,
        Doc(
            "downstreams",
            "Remove a downstream made through the API",
            "At once, on every replica within a tick: what it still had to deliver ends as dead"
            " letters, with the reason.",
            (Reply(200, "Removed.", m.Removed), _NO_DOWNSTREAM, _FROM_CONFIG),
        ),
        scope="downstreams",
    ),
    admin_op(
        "/v1/downstreams/{name}/rotate-secret",
        "POST",
        d.rotate_secret,
        m.DownstreamParams,
        Doc(
            "downstreams",
            "Rotate a downstream's secret",
            "A new secret, shown once. For `delivery.rotation_overlap_seconds` (24 h by default)"
            " every delivery carries both signatures, space-separated in `webhook-signature`, so"
            " a receiver that knows either secret verifies.",
            (Reply(200, "Rotated.", m.SecretRotated), _NO_DOWNSTREAM, _FROM_CONFIG),
        ),
        scope="downstreams",
    ),
    admin_op(
        "/v1/downstreams/{name}/disable",
        "POST",
        d.disable_downstream,
        m.DownstreamParams,
        Doc(
            "downstreams",
            "Disable a downstream",
            "Stops attempting it, on every replica; its deliveries are held until it is enabled.",
            (Reply(200, "Disabled.", m.Disabled), _NO_DOWNSTREAM),
        ),
        scope="downstreams",
    ),
    admin_op(
        "/v1/downstreams/{name}/enable",
        "POST",
        d.enable_downstream,
        m.EnableParams,
        Doc(
            "downstreams",
            "Enable a downstream",
            "Attempts it again, and queues what it held (and, with `recover_since`, what went"
            " to dead-letter since then).",
            (Reply(200, "Enabled.", m.Enabled), _NO_DOWNSTREAM),
        ),
        scope="downstreams",
    ),
    admin_op(
        "/v1/stream",
        "GET",
        h.stream,
        m.StreamParams,
        Doc(
            "live",
            "Live changes (Server-Sent Events)",
            "Never ends. `event: task` carries a task summary as it changes, `event: attempt` a"
            " delivery attempt as it ends; each `id` is where a reconnecting client resumes"
            " (`Last-Event-ID`), also after a restart of the relay. A `: keep-alive` comment"
            " comes every 15 s.",
            (
                Reply(
                    200,
                    "The stream.",
                    media_types=("text/event-stream",),
                    schema={"type": "string"},
                ),
            ),
        ),
        scope="tasks:read",
    ),
    *media_routes.OPERATIONS,
    *probes.OPERATIONS,
    Operation(
        "/openapi.json",
        ("GET",),
        openapi_json,
        "probes",
        "This description",
        "OpenAPI 3.1, built from the models the handlers validate with.",
        "none",
        (
            Reply(
                200,
                "The document.",
                media_types=("application/json",),
                schema={"type": "object"},
            ),
        ),
    ),
)


def routes() -> list[Route]:
    """One route per path, so that a 405 lists in `Allow` every method the path has."""
    by_path: dict[str, list[Operation]] = {}
    for op in OPERATIONS:
        by_path.setdefault(op.path, []).append(op)
    return [ops[0].route() if len(ops) == 1 else by_method(ops) for ops in by_path.values()]


@cache
def openapi() -> dict[str, Any]:
    return document(OPERATIONS, version("runway-relay"))
