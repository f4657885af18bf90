"""The S3 media store, through obstore: loaded only when `[media] store = "s3"` (the `s3`
extra of the package)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING

import obstore
from obstore.exceptions import BaseError, NotFoundError
from obstore.store import S3Store

from receiver.media.storage.local import (
    MEDIA_KEY,
    Located,
    MediaStoreError,
    Pruned,
    Redirect,
    StoredObject,
    check_key,
    content_type,
    failure_reason,
)

if TYPE_CHECKING:
    from obstore.store import S3Config

    from receiver.config.sections import MediaConfig

# S3's presigned URLs (SigV4) are valid for a week at most.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
# Multipart parts in flight for one upload: memory stays near _PART * (_PARTS_IN_FLIGHT + 1).
_PART = 5 * 1024 * 1024  # S3's smallest part
_PARTS_IN_FLIGHT = 2
_READ_CHUNK = 256 * 1024


class S3MediaStore:
    """Any S3-compatible bucket. With `presign`, /media redirects to a presigned GET URL;
    without, the relay streams the object itself, Range included."""

    def __init__(self, store: S3Store, presign: bool = True) -> None:
        self._store = store
        self.presign = presign

    async def put(self, key: str, chunks: AsyncIterable[bytes], content_type: str) -> None:
        try:
            await obstore.put_async(
                self._store,
                check_key(key),
                chunks,
                attributes={"Content-Type": content_type},
                chunk_size=_PART,
                max_concurrency=_PARTS_IN_FLIGHT,
            )
        except BaseError as exc:
            raise MediaStoreError(f"cannot upload {key}: {failure_reason(exc)}") from None

    async def _head(self, key: str) -> tuple[int, str] | None:
        try:
            meta = await obstore.head_async(self._store, check_key(key))
        except (FileNotFoundError, NotFoundError):
            return None
        except BaseError as exc:
            raise MediaStoreError(f"cannot reach {key}: {failure_reason(exc)}") from None
        return meta["size"], meta["e_tag"] or ""

    async def locate(self, key: str, valid_for: float) -> Located | None:
        head = await self._head(key)
        if head is None:
            return None
        if self.presign:
            seconds = max(1, min(int(valid_for), MAX_PRESIGN_SECONDS))
            try:
                url = await obstore.sign_async(self._store, "GET", key, timedelta(seconds=seconds))
            except BaseError as exc:
                raise MediaStoreError(f"cannot sign {key}: {failure_reason(exc)}") from None
            return Redirect(url)
        size, etag = head
        return StoredObject(size, etag, content_type(key), lambda a, b: self._read(key, a, b))

    async def _read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        if end <= start:
            return
        got = await obstore.get_async(self._store, key, options={"range": (start, end)})
        async for chunk in got.stream(min_chunk_size=_READ_CHUNK):
            yield bytes(chunk)

    def prune(self, older_than_days: float, now: float | None = None) -> Pruned:
        """Remove media keys (`<task>/<name>`) older than the retention; other objects that
        share the bucket or prefix are left alone."""

        cutoff = (now if now is not None else time.time()) - older_than_days * 86400
        old: list[str] = []
        size = kept = 0
        try:
            for batch in obstore.list(self._store, chunk_size=1000):
                for meta in batch:
                    if not MEDIA_KEY.fullmatch(meta["path"]):
                        continue
                    if meta["last_modified"].timestamp() < cutoff:
                        old.append(meta["path"])
                        size += meta["size"]
                    else:
                        kept += meta["size"]
            for i in range(0, len(old), 1000):
                obstore.delete(self._store, old[i : i + 1000])
        except BaseError as exc:
            raise MediaStoreError(f"cannot prune: {failure_reason(exc)}") from None
        return Pruned(len(old), size, kept)


def open_s3(settings: MediaConfig, keys: tuple[str, str] | None) -> S3MediaStore:
    """The bucket `[media]` names (`keys` None: the AWS chain)."""
    config: S3Config = {"region": settings.region}
    if keys is not None:
        config["access_key_id"], config["secret_access_key"] = keys
    endpoint = settings.endpoint_url.rstrip("/")
    if endpoint:
        # S3-compatible servers (MinIO, R2, Ceph, moto) take the bucket in the path.
        config["endpoint"] = endpoint
        config["virtual_hosted_style_request"] = False
    store = S3Store(
        settings.bucket,
        prefix=settings.prefix.strip("/") or None,
        config=config,
        client_options={"allow_http": endpoint.startswith("http://")},
    )
    return S3MediaStore(store, presign=settings.presign)
