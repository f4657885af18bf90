"""Deliveries: the outbox listed (an app's own), and replayed one by one or a downstream's
dead letters at once; their routes and the lists and parameters they answer and read
through (a delivery's own answer is a task's: receiver/tasks/rules/answers.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.responses import Response

from receiver.deliveries import actions as delivery_actions
from receiver.downstreams.api import Downstreams
from receiver.kernel.http import models as m
from receiver.kernel.http.models import Answer, Id, Limit, Moment, Params
from receiver.kernel.http.openapi import PathId, answer, reply
from receiver.keys.guard import caller_of, operation
from receiver.outbox.rules.delivery import DeliveryFilter
from receiver.tasks.detail import own
from receiver.tasks.rules.answers import DeliveryState, DeliverySummary
from receiver.wiring.dependencies import Stored, Workers


class DeliveryList(Answer):
    deliveries: list[DeliverySummary] = Field(description="Newest first.")


class Replayed(Answer):
    replayed: int = Field(description="How many deliveries were queued again.")


class DeliveryListParams(Limit):
    state: DeliveryState | None = None
    downstream: Id | None = None
    task_id: Id | None = None
    before: Id | None = Field(
        None, description="A delivery's id: only those older than it (the next page)."
    )


class DeliveryIdParams(Params):
    delivery_id: Id


class DeadLetterParams(Params):
    downstream: Id = Field(description="Replay every dead letter of this downstream.")


class RecoverParams(Params):
    recover_since: Moment | None = Field(
        None,
        description="Queue again what it held and what went to dead-letter since then"
        " (epoch or ISO 8601); unset: all it held.",
    )


router = APIRouter(tags=["deliveries"])
_ERR = m.ErrorAnswer


@router.get(
    "/v1/deliveries",
    **operation(
        "downstreams",
        "List deliveries",
        "The outbox, newest first, one delivery per event and downstream; an app's own.",
        {200: answer("Deliveries.", DeliveryList)},
    ),
)
async def list_deliveries(
    request: Request,
    store: Stored,
    directory: Downstreams,
    params: Annotated[DeliveryListParams, Query()],
) -> Response:
    caller = caller_of(request)
    downstream = params.downstream
    if downstream is not None and caller.sees_all:  # an app's as the admin names it: APP/NAME
        downstream = await directory.kept_of(downstream)
    wanted = DeliveryFilter(params.state, downstream, params.task_id, params.limit, params.before)
    found = await delivery_actions.deliveries_for(store, caller, wanted)
    listed = own(caller, found)
    return reply(DeliveryList, {"deliveries": listed})


@router.post(
    "/v1/deliveries/replay",
    **operation(
        "downstreams",
        "Replay a downstream's dead letters",
        "Queues every dead letter of the downstream for an attempt now.",
        {
            200: answer("How many were queued.", Replayed),
            404: answer("No downstream of that name.", _ERR),
        },
    ),
)
async def replay_dead_letters(
    request: Request,
    workers: Workers,
    directory: Downstreams,
    params: Annotated[DeadLetterParams, Query()],
) -> Response:
    caller = caller_of(request)
    downstream = params.downstream
    count = await delivery_actions.replay_dead_letters(workers, directory, downstream, caller)
    return reply(Replayed, {"replayed": count})


@router.post(
    "/v1/deliveries/{delivery_id}/replay",
    **operation(
        "downstreams",
        "Replay one delivery",
        "Queues the delivery for an attempt now, whatever its state.",
        {200: answer("Queued.", Replayed), 404: answer("No such delivery.", _ERR)},
    ),
)
async def replay_delivery(request: Request, workers: Workers, delivery_id: PathId) -> Response:
    count = await delivery_actions.replay_delivery(workers, delivery_id, caller_of(request))
    return reply(Replayed, {"replayed": count})
