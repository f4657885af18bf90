"""`POST /v1/downstreams/preview`: what a filter, a transform and headers would make of one
event, before any of them is stored: by default a real one (the downstream's newest, else
the caller's newest task's), an example of a type only when asked or when there is none.
An example carries no metadata (a real event has only what its task was given), so that a
filter on a metadata field is not shown matching what real events lack.

The answer is the request as it would go, with every header value the caller gave masked
and the signature left out: a preview never shows a secret, and sends nothing.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from receiver.config.expression_fields import DownstreamExpressions, vet_expressions
from receiver.deliveries import reads as delivery_reads
from receiver.destinations.registry import (
    DestinationFormat,
    preview_refusal,
    preview_request,
    render,
    transform_refusal,
)
from receiver.destinations.webhook import webhook
from receiver.downstreams.manage import masked, read_checked
from receiver.expressions.evaluate import evaluate
from receiver.expressions.lines import OPERATOR
from receiver.expressions.rules import ExpressionFailed, OverBudget, Shaped
from receiver.kernel.errors import InvalidRequest, NotFound
from receiver.kernel.secrets.message_signatures import ALG, COVERED, TAG, signature_params
from receiver.kernel.secrets.signing import Signing
from receiver.kernel.store import Store
from receiver.keys.rules import BOOTSTRAP, Caller
from receiver.lifecycle.rules.records import TaskFilter
from receiver.outbox.rules.delivery import NAME_MAX, looks_owned, owned_name, owner_of
from receiver.outbox.rules.event_types import EVENT_TYPES, TEST_TYPE, example_document
from receiver.tasks import reads as task_reads


def signed_placeholders(signing: Signing) -> dict[str, str]:
    """What the relay adds to every request, as `signing` signs it (values shown as
    placeholders: a preview never shows a signature, which would tell of the secret)."""
    added = {"content-type": "application/json", "webhook-id": "msg_…", "webhook-timestamp": "…"}
    if signing != "rfc9421":
        version = "v1a" if signing == "ed25519" else "v1"
        return added | {"webhook-signature": f"{version},***"}
    params = f'{signature_params(COVERED)};created=…;keyid="…";alg="{ALG}";tag="{TAG}"'
    return added | {
        "content-digest": "sha-256=:…:",
        "signature-input": f"sig1={params}",
        "signature": "sig1=:***:",
    }


class PreviewRequest(DownstreamExpressions):
    """A filter and transform to try, with the format they would serve, on an event."""

    model_config = ConfigDict(extra="forbid")

    format: DestinationFormat = "webhook"
    signing: Signing = Field(
        "hmac", description="How the downstream signs: its headers in the request shown."
    )
    type: Literal[EVENT_TYPES] | None = None  # type: ignore[valid-type]
    task_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    # The downstream being changed, by the name its caller knows it: its newest event is
    # the one tried when neither a type nor a task is asked for.
    downstream: Annotated[str, Field(min_length=1, max_length=NAME_MAX)] | None = None

    def transform_refusal(self) -> str | None:
        return transform_refusal(self.format)

    @model_validator(mode="after")
    def _one_event(self) -> PreviewRequest:
        if self.type is not None and self.task_id is not None:
            raise ValueError("give type or task_id, not both")
        if (refused := preview_refusal(self.format)) is not None:
            raise ValueError(refused)
        return self


async def _document(
    store: Store, asked: PreviewRequest, caller: Caller
) -> tuple[dict[str, Any], str]:
    """The event document tried, and where it came from: `example`, `task` or `downstream`."""
    if asked.type is not None:
        return _example(asked.type), "example"
    if asked.task_id is not None:
        found = await _newest_of_task(store, asked.task_id, caller)
        if found is None:
            raise InvalidRequest(f"task_id: task {asked.task_id!r} has no event yet")
        return found, "task"
    if (kept := _kept_name(asked.downstream, caller)) is not None:
        found = await delivery_reads.newest_event_of(store, kept)
        if found is not None:
            return found, "downstream"
    # An app's downstream takes only its app's tasks: the newest of those.
    owner = owner_of(kept) if kept is not None else None
    newest = TaskFilter(owner_key=owner or caller.owner_filter, limit=_NEWEST_TASKS)
    for task in await task_reads.task_list(store, newest):
        found = await _newest_of_task(store, task.id, caller)
        if found is not None:
            return found, "task"
    return _example(TEST_TYPE), "example"


def _kept_name(name: str | None, caller: Caller) -> str | None:
    """The name the downstream is kept under: the operator's as given, an app's own by the
    name it gave it (None: not one the caller may read)."""
    if name is None or caller.sees_all:
        return name
    if caller.app_id is None or looks_owned(name):
        return None
    return owned_name(caller.app_id, name)


# The caller's newest tasks looked at for a real event (a task still queued has none).
_NEWEST_TASKS = 5


def _example(event_type: str) -> dict[str, Any]:
    """An example of the type, with no metadata: a real event has only what its task got."""
    return {**example_document(event_type), "metadata": None}


async def _newest_of_task(store: Store, task_id: str, caller: Caller) -> dict[str, Any] | None:
    found = await task_reads.task_documents(store, task_id, 1)
    # Another app's task is no such task, as everywhere else (ids cannot be probed).
    if found is None or not caller.owns(found[0].owner_key):
        raise NotFound(f"no task {task_id!r}")
    documents = [document for document, _ in found[1].values() if document]
    return documents[0] if documents else None


async def preview(store: Store, payload: Any, caller: Caller = BOOTSTRAP) -> dict[str, Any]:
    """What a downstream with this filter and transform would do with an event: of an
    example of its type, or of a task the caller may read. Both are evaluated in a process
    (receiver/expressions/pool.py), in one round trip: one stopped for passing its
    budget, or making a body over 1 MiB, is the caller's to change (422)."""
    asked = read_checked(PreviewRequest, payload)
    line = caller.owner or OPERATOR  # a portal session's caller is its app's
    await vet_expressions(asked, line)
    document, source = await _document(store, asked, caller)
    envelope = webhook(document)
    answer: dict[str, Any] = {
        "event": envelope,
        "source": source,
        "matched": True,
        "reason": None,
    }
    shaped: Shaped | None = None
    # Without an expression (or without the cel extra) the preview still shows the request
    # the format would make.
    if asked.filter is not None or asked.transform is not None:
        try:
            verdict, shaped = await evaluate(
                asked.filter, asked.transform, envelope, line, always=True
            )
        except OverBudget as exc:  # a body too big to send
            raise InvalidRequest(str(exc)) from None
        except ExpressionFailed as exc:
            return answer | {"request": None, "transform_error": str(exc)}
        if verdict.cut:  # stopped: the caller's to change, as any bad input
            raise InvalidRequest(verdict.reason or "filter passed its budget")
        if asked.filter is not None:
            answer |= {"matched": verdict.matched, "reason": verdict.reason}
    if shaped is None:  # a publisher sends the relay's JSON event, as a webhook does
        shaped = Shaped(render(asked.format, document).body)
    headers = {**masked(asked.headers), **shaped.headers, **signed_placeholders(asked.signing)}
    request = preview_request(asked.format, shaped, headers, envelope["type"])
    return answer | {"request": request, "transform_error": None}
