"""Runway's ephemeral uploads, kept by the relay: which files, how large, for how long,
what the SDK's form may hold, and each key's quota of bytes in an hour. No I/O.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Sequence

MAX_UPLOAD_BYTES = 64 * 1024 * 1024  # a data URI of it stays under inputs.MAX_DATA_URI_CHARS
EPHEMERAL_SECONDS = 24 * 3600  # Runway's ephemeral uploads live a day
UPLOAD_WINDOW_SECONDS = 3600  # the upload URL's own life
URI_PREFIX = "runway://relay/"

# The SDK's form holds the file, the `fields` the start answered (none) and its `metadata`:
# the parser stops at the first part too many (100,000 tiny parts must not hold the loop).
MAX_FORM_FILES = 1
MAX_FORM_FIELDS = 8
MAX_FIELD_BYTES = 64 * 1024
# What a form may add to its file: boundaries, part headers and the fields above.
MAX_FORM_OVERHEAD = 64 * 1024 + MAX_FORM_FIELDS * (MAX_FIELD_BYTES + 1024)

# A key's quota counts its uploads of the last hour; an upload's row is kept as long as its
# URL could be posted to again, and no less than the window.
QUOTA_WINDOW_SECONDS = 3600.0
TAKEN_KEPT_SECONDS = max(UPLOAD_WINDOW_SECONDS, QUOTA_WINDOW_SECONDS) + 60.0

# By the file name's suffix: the content type it is kept as, and how its first bytes start.
TYPES: dict[str, str] = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".ogg": "audio/ogg",
}


_SUFFIXES = "|".join(s[1:] for s in TYPES) + "|" + "|".join(s[1:].upper() for s in TYPES)
# A name Runway takes, as a JSON Schema pattern too: its suffix in lower or upper case.
FILENAME_PATTERN = rf"^.*\.({_SUFFIXES})$"
_FILENAME = re.compile(FILENAME_PATTERN)


def type_of(filename: str) -> str | None:
    """The content type an upload of this name is kept as; None: not a type Runway takes."""
    if not _FILENAME.match(filename):
        return None
    return TYPES.get(filename[filename.rfind(".") :].lower())


def looks_like(content_type: str, head: bytes) -> bool:
    """The file's first bytes are those of its type (a renamed text file is refused)."""
    if content_type == "image/png":
        return head.startswith(b"\x89PNG\r\n\x1a\n")
    if content_type == "image/jpeg":
        return head.startswith(b"\xff\xd8\xff")
    if content_type == "image/webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    if content_type in ("video/mp4", "video/quicktime"):
        return head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free")
    if content_type == "video/webm":
        return head.startswith(b"\x1a\x45\xdf\xa3")
    if content_type == "audio/mpeg":
        return head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] >= 0xE0)
    if content_type == "audio/wav":
        return head[:4] == b"RIFF" and head[8:12] == b"WAVE"
    if content_type == "audio/ogg":
        return head.startswith(b"OggS")
    return False


def quota_wait(
    quota: int, used: int, oldest: Sequence[tuple[float, int]], size: int, now: float
) -> int | None:
    """None when a file of `size` bytes fits under `quota` (0: none) beside the `used` bytes;
    else the seconds (at least 1) until enough of the `oldest` (at, bytes) leave the window."""
    if quota <= 0 or used + size <= quota:
        return None
    freed, leaves_at = 0, now
    for uploaded_at, uploaded in oldest:
        freed += uploaded
        leaves_at = uploaded_at + QUOTA_WINDOW_SECONDS
        if used - freed + size <= quota:
            break
    return max(1, math.ceil(leaves_at - now))


def data_uri(content_type: str, data: bytes) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"
