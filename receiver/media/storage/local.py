"""Where mirrored files live: a local directory (the default) or an S3 bucket (s3.py,
loaded only when configured), behind `MediaStore`. A file is never visible under its key
until it is complete: a temporary file renamed into place, or a completed multipart upload.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

from receiver.kernel.errors import ConfigError
from receiver.kernel.extras import require
from receiver.kernel.observability.logs import scrub
from receiver.lifecycle.rules.task import content_type_of

if TYPE_CHECKING:
    from receiver.config.sections import MediaConfig
    from receiver.media.storage.s3 import S3MediaStore


MEDIA_KEY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


class Pruned(NamedTuple):
    files: int  # removed
    bytes: int  # removed
    kept_bytes: int  # what the store still holds


class MediaStoreError(Exception):
    """The store itself failed (a full disk, an unreachable bucket); worth trying again."""


def check_key(key: str) -> str:
    """Keys are `<task id>/<name>`, and never leave the store's folder or prefix."""
    if not MEDIA_KEY.fullmatch(key) or ".." in key:
        raise ValueError(f"not a media key: {key!r}")
    return key


@dataclass(frozen=True)
class Redirect:
    """Serve by sending the client there (a presigned URL)."""

    url: str


@dataclass(frozen=True)
class StoredObject:
    """Serve by streaming it through the relay; `read(start, end)` yields bytes [start, end)."""

    size: int
    etag: str
    content_type: str
    read: Callable[[int, int], AsyncIterator[bytes]]


# A local file (served with Range by the route), a redirect, or an object to stream.
Located = Path | Redirect | StoredObject


class MediaStore(Protocol):
    async def put(self, key: str, chunks: AsyncIterable[bytes], content_type: str) -> None:
        """Store `chunks` under `key`, all or nothing. An exception raised by `chunks` goes
        through unchanged; the store's own failures raise `MediaStoreError`."""

    async def locate(self, key: str, valid_for: float) -> Located | None:
        """How to serve `key` for the next `valid_for` seconds; None when it is not kept.
        ValueError for a key that cannot be one."""

    def prune(self, older_than_days: float, now: float | None = None) -> Pruned:
        """Remove copies older than the retention; returns what went and what is kept.
        Blocking: the worker runs it in a thread."""


@contextlib.contextmanager
def _disk(what: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise MediaStoreError(f"cannot write {what}: {exc.strerror or exc}") from None


class LocalMediaStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        """The file for `key` (`<task id>/<name>`); keys never leave the store's folder."""
        return self.root / check_key(key)

    async def put(self, key: str, chunks: AsyncIterable[bytes], content_type: str) -> None:
        """Only the disk's errors become `MediaStoreError`: an error from `chunks` (the
        download) goes through as it is."""
        with _disk(key):
            final = self.path(key)
            final.parent.mkdir(parents=True, exist_ok=True)
        part = final.with_name(f".{final.name}.part")
        try:
            with _disk(key):
                out = part.open("wb")
            with out:
                async for chunk in chunks:
                    with _disk(key):
                        out.write(chunk)
                with _disk(key):
                    out.flush()
                    os.fsync(out.fileno())
            with _disk(key):
                os.replace(part, final)
        finally:
            part.unlink(missing_ok=True)

    async def locate(self, key: str, valid_for: float) -> Located | None:
        path = self.path(key)
        return path if path.is_file() else None

    def prune(self, older_than_days: float, now: float | None = None) -> Pruned:
        cutoff = (now if now is not None else time.time()) - older_than_days * 86400
        files = size = kept = 0
        if not self.root.exists():
            return Pruned(0, 0, 0)
        for path in self.root.glob("*/*"):
            stat = path.stat()
            if stat.st_mtime < cutoff:
                path.unlink()
                files, size = files + 1, size + stat.st_size
            elif not path.name.startswith("."):
                kept += stat.st_size
        for folder in self.root.iterdir():
            with contextlib.suppress(OSError):
                folder.rmdir()  # only empty ones go
        return Pruned(files, size, kept)


def failure_reason(exc: Exception) -> str:
    """The first line of an S3 store's error (a Rust debug dump), scrubbed: it is shown, and
    an S3 server's refusal quotes the access key id it was given."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return scrub(first, 300)


def content_type(key: str) -> str:
    return content_type_of(os.path.splitext(key)[1])


def _env(environ: Mapping[str, str], name: str, key: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"config key media.{key}: environment variable {name} is not set")
    return value


def s3_keys(settings: MediaConfig, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """(access key id, secret access key) from the variables `[media]` names; None when both
    names are "" (the AWS chain). ConfigError when a named variable is unset."""
    if not (settings.access_key_id_env or settings.secret_access_key_env):
        return None
    return (
        _env(environ, settings.access_key_id_env, "access_key_id_env"),
        _env(environ, settings.secret_access_key_env, "secret_access_key_env"),
    )


def open_media_store(
    settings: MediaConfig, environ: Mapping[str, str] = os.environ
) -> LocalMediaStore | S3MediaStore:
    """The store `[media]` names; the S3 keys are read from the environment here."""
    if settings.store == "local":
        return LocalMediaStore(settings.dir)
    require("s3", 'media.store = "s3"')
    from receiver.media.storage.s3 import open_s3

    return open_s3(settings, s3_keys(settings, environ))


class MediaStorage:
    """The process's one media store for its routes, opened at its first use: an S3 store
    needs its extra and its keys only once a file is asked for."""

    def __init__(self, settings: MediaConfig) -> None:
        self._settings = settings
        self._store: MediaStore | None = None

    def opened(self) -> MediaStore:
        if self._store is None:
            self._store = open_media_store(self._settings)
        return self._store


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one range a `Range` header asks of `size` bytes, as [start, end); None to send
    the whole (as RFC 9110 allows). ValueError when it lies past the end (416)."""
    if not header or not header.strip().lower().startswith("bytes="):
        return None
    spec = header.strip()[6:].strip()
    if "," in spec or "-" not in spec:
        return None
    first, _, last = (s.strip() for s in spec.partition("-"))
    if not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if first == "":
        if last == "" or int(last) == 0:
            raise ValueError("empty suffix range")
        return max(0, size - int(last)), size
    start = int(first)
    end = size if last == "" else min(int(last) + 1, size)
    if last and int(last) < start:
        return None
    if start >= size:
        raise ValueError("range starts past the end")
    return start, end
