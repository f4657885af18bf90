"""A task's request as it is sent to CometAPI: with the data URIs its request refers to
back in place, read from the store while the body goes out, so that no send holds a whole
large URI (receiver/tasks/rules/inputs.py cuts the JSON; the store keeps the parts). Small URIs
are read many at a time (`next_batch`), large ones a part at a time: building a body takes
time in proportion to its bytes, never a store round trip per URI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from receiver.kernel.comet.client import StreamedBody
from receiver.kernel.store import Store
from receiver.tasks import reads as task_reads
from receiver.tasks.rules.inputs import json_pieces, json_string_part, next_batch

SEND_CHARS = 256 * 1024
HOLD_CHARS = 8 * 1024 * 1024  # URIs up to this in all: the body is built once, and held


async def outgoing_request(
    store: Store, task_id: str, fields: dict[str, Any]
) -> dict[str, Any] | StreamedBody:
    """`fields` as they go out: as they are when the task keeps no data URI, else streamed.
    Past HOLD_CHARS the parts are read twice, once for the body's length and once to send
    it: the store, not the process, holds the URIs between the two."""
    sizes = await task_reads.input_parts(store, task_id)
    if not sizes:
        return fields
    pieces = json_pieces(fields, sizes)

    async def chunks() -> AsyncIterator[bytes]:
        # Written in runs of at least SEND_CHARS: a write per small URI would cost the
        # client a call each (40,000 for 20,000 URIs).
        run = bytearray()
        async for piece in pieces_out():
            if run and len(run) + len(piece) > SEND_CHARS:
                yield bytes(run)
                run.clear()
            if len(piece) >= SEND_CHARS:
                yield piece  # a large URI's part: as it is, not copied again
            else:
                run += piece
        if run:
            yield bytes(run)

    async def pieces_out() -> AsyncIterator[bytes]:
        held: dict[str, str] = {}  # the batch of small URIs read last
        for index, piece in enumerate(pieces):
            if isinstance(piece, bytes):
                yield piece
                continue
            count = sizes[piece][0]
            if count == 1:
                if piece not in held:
                    held = await task_reads.input_wholes(
                        store, task_id, next_batch(pieces, index, sizes)
                    )
                yield json_string_part(held.get(piece, ""), first=True, last=True)
                continue
            for part in range(count):
                text = await task_reads.input_part(store, task_id, piece, part)
                yield json_string_part(text, first=part == 0, last=part == count - 1)

    if sum(chars for _, chars in sizes.values()) <= HOLD_CHARS:
        # Small enough to hold: read once, and whole before the send starts.
        whole = b"".join([chunk async for chunk in chunks()])

        async def held() -> AsyncIterator[bytes]:
            yield whole

        return StreamedBody(len(whole), held)
    length = 0
    async for chunk in chunks():
        length += len(chunk)
    return StreamedBody(length, chunks)
