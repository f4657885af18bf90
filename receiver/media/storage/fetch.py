"""Copying one file from the provider's CDN into the media store, streamed: memory stays
bounded whatever its size. Redirects are followed by hand, so each hop passes the address
guard; the size limit holds whether or not the server declares a length.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from receiver.kernel.errors import MirrorError
from receiver.kernel.net.guard import check_literal
from receiver.kernel.net.outbound import Failure, transport_errors
from receiver.lifecycle.rules.task import CONTENT_TYPES
from receiver.media.storage.local import MediaStore, MediaStoreError

if TYPE_CHECKING:
    import aiohttp  # the session is the caller's (mirror.py)

_CHUNK = 64 * 1024
_REDIRECTS = 5


def _failed(failure: Failure) -> MirrorError:
    # A refused address stays refused; anything else may pass on a later attempt.
    final = failure.kind in ("private_address", "invalid_url")
    return MirrorError(failure.reason, failure.kind, final=final)


@dataclass(frozen=True)
class Fetched:
    key: str
    source: str
    sha256: str
    bytes: int
    content_type: str


async def fetch(
    session: aiohttp.ClientSession,
    url: str,
    store: MediaStore,
    name: str,
    max_bytes: int,
    allow_private: bool,
) -> Fetched:
    """Copy `url` to the store as `<name><extension>`."""
    source = url
    with transport_errors(_failed):
        for _ in range(_REDIRECTS + 1):
            if not allow_private:
                check_literal(urlsplit(url).hostname or "")
            async with session.get(url, allow_redirects=False) as response:
                if response.status in (301, 302, 303, 307, 308) and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    if urlsplit(url).scheme not in ("http", "https"):
                        raise MirrorError("redirected away from http(s)", "redirect", final=True)
                    continue
                return await _keep(response, source, store, name, max_bytes)
        raise MirrorError(f"more than {_REDIRECTS} redirects", "redirect", final=True)


async def _keep(
    response: aiohttp.ClientResponse, source: str, store: MediaStore, name: str, limit: int
) -> Fetched:
    if response.status in (403, 404, 410):
        raise MirrorError(f"HTTP {response.status}: the link has expired", "expired", expired=True)
    if not 200 <= response.status < 300:
        raise MirrorError(f"HTTP {response.status}", "http")
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in CONTENT_TYPES:
        shown = content_type or "none"
        raise MirrorError(
            f"content type {shown} is not a video, an image or audio", "content_type", final=True
        )
    if response.content_length is not None and response.content_length > limit:
        raise MirrorError(
            f"the file is {response.content_length} bytes, over the limit of {limit}",
            "too_large",
            final=True,
        )
    key = f"{name}{CONTENT_TYPES[content_type][1]}"
    digest, size = hashlib.sha256(), 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal size
        async for chunk in response.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise MirrorError(
                    f"the file is over the limit of {limit} bytes", "too_large", final=True
                )
            digest.update(chunk)
            yield chunk

    try:
        await store.put(key, chunks(), content_type)
    except MediaStoreError as exc:
        raise MirrorError(f"media store: {exc}", "store") from None
    return Fetched(key, source, digest.hexdigest(), size, content_type)
