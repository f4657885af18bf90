"""`POST /v1/downstreams/preview`: what a filter, a transform and headers would make of one
event (an example of a type, or a task's newest event), before any of them is stored.

The answer is the request as it would go, with every header value the caller gave masked
and the signature left out: a preview never shows a secret, and sends nothing.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import ConfigDict, Field, model_validator

from receiver.config.expression_fields import DownstreamExpressions
from receiver.destinations.registry import DestinationFormat, provider_of, render
from receiver.destinations.webhook import webhook
from receiver.downstreams.manage import masked, read_checked
from receiver.kernel import expressions
from receiver.kernel.errors import InvalidRequest, NotFound
from receiver.keys.rules import BOOTSTRAP, Caller
from receiver.lifecycle.rules.catalog import EVENT_TYPES, TEST_TYPE, example_document
from receiver.tasks import reads as task_reads
from receiver.wiring.service import Service

# What the relay adds to every request (values shown as placeholders).
_SIGNED = {
    "content-type": "application/json",
    "webhook-id": "msg_…",
    "webhook-timestamp": "…",
    "webhook-signature": "v1,***",
}


class PreviewRequest(DownstreamExpressions):
    """A filter and transform to try, with the format they would serve, on an event."""

    model_config = ConfigDict(extra="forbid")

    format: DestinationFormat = "webhook"
    type: Literal[EVENT_TYPES] | None = None  # type: ignore[valid-type]
    task_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None

    @model_validator(mode="after")
    def _one_event(self) -> PreviewRequest:
        if self.type is not None and self.task_id is not None:
            raise ValueError("give type or task_id, not both")
        if not provider_of(self.format).previewable:
            raise ValueError(f"format: {self.format} cannot be previewed; try another chat format")
        return self


async def _document(service: Service, asked: PreviewRequest, caller: Caller) -> dict[str, Any]:
    if asked.task_id is None:
        return example_document(asked.type or TEST_TYPE)
    found = await task_reads.task_documents(service.store, asked.task_id, 1)
    # Another app's task is no such task, as everywhere else (ids cannot be probed).
    if found is None or not caller.owns(found[0].owner_key):
        raise NotFound(f"no task {asked.task_id!r}")
    documents = [document for document, _ in found[1].values() if document]
    if not documents:
        raise InvalidRequest(f"task_id: task {asked.task_id!r} has no event yet")
    return documents[0]


async def preview(service: Service, payload: Any, caller: Caller = BOOTSTRAP) -> dict[str, Any]:
    """What a downstream with this filter and transform would do with an event: of an
    example of its type, or of a task the caller may read."""
    asked = read_checked(PreviewRequest, payload)
    document = await _document(service, asked, caller)
    envelope = webhook(document)
    # Converted for CEL only when there is an expression: without one (or without the cel
    # extra) the preview still shows the request the format would make.
    has_expression = asked.filter is not None or asked.transform is not None
    context = expressions.context(envelope) if has_expression else None
    answer: dict[str, Any] = {"event": envelope, "matched": True, "reason": None}
    if asked.filter is not None and context is not None:
        verdict = expressions.verdict(expressions.compiled(asked.filter), context)
        if verdict.cut:  # not run at all: the caller's to change, as any bad input
            raise InvalidRequest(verdict.reason or "filter would cost too much")
        answer |= {"matched": verdict.matched, "reason": verdict.reason}
    try:
        shaped = _shaped(asked, document, context)
    except expressions.OverBudget as exc:  # too costly to run, or a body too big to send
        raise InvalidRequest(str(exc)) from None
    except expressions.ExpressionFailed as exc:
        return answer | {"request": None, "transform_error": str(exc)}
    headers = {**masked(asked.headers), **shaped.headers, **_SIGNED}
    published = provider_of(asked.format).publishes
    if published:
        headers["webhook-type"] = envelope["type"]
    request = {
        "method": "PUBLISH" if published else shaped.method,
        "path": shaped.path,
        "headers": headers,
        "body": orjson.loads(shaped.body),
    }
    return answer | {"request": request, "transform_error": None}


def _shaped(
    asked: PreviewRequest, document: dict[str, Any], context: expressions.Context | None
) -> expressions.Shaped:
    if asked.transform is not None and context is not None:
        return expressions.shape(expressions.compiled(asked.transform), context)
    # A publisher sends the relay's JSON event, as a webhook does.
    fmt = "webhook" if provider_of(asked.format).publishes else asked.format
    return expressions.Shaped(render(fmt, document).body)
