"""A task's request as it is sent to CometAPI: with the data URIs its request refers to
back in place, read from the store a part at a time while the body goes out, so that no
send holds a whole URI (receiver/domain/inputs.py cuts the JSON; the store keeps the parts).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from receiver.adapters.comet.client import StreamedBody
from receiver.domain.inputs import json_pieces, json_string_part
from receiver.persist import Store


async def outgoing_request(
    store: Store, task_id: str, fields: dict[str, Any]
) -> dict[str, Any] | StreamedBody:
    """`fields` as they go out: as they are when the task keeps no data URI, else streamed.
    The parts are read twice, once for the body's length and once to send it: the store,
    not the process, holds the URI between the two."""
    parts = await store.input_parts(task_id)
    if not parts:
        return fields
    pieces = json_pieces(fields, parts)

    async def chunks() -> AsyncIterator[bytes]:
        for piece in pieces:
            if isinstance(piece, bytes):
                yield piece
                continue
            count = parts[piece]
            for part in range(count):
                text = await store.input_part(task_id, piece, part)
                yield json_string_part(text, first=part == 0, last=part == count - 1)

    length = 0
    async for chunk in chunks():
        length += len(chunk)
    return StreamedBody(length, chunks)
