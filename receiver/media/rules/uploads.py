"""Runway's ephemeral uploads, kept by the relay: which files it takes (by name and by their
first bytes), how large, for how long, and the file out of the SDK's `multipart/form-data`
post. Pure functions: no I/O.
"""

from __future__ import annotations

import base64
import re
from email import message_from_bytes
from email.message import Message
from email.policy import HTTP

MAX_UPLOAD_BYTES = 64 * 1024 * 1024  # a data URI of it stays under inputs.MAX_DATA_URI_CHARS
EPHEMERAL_SECONDS = 24 * 3600  # Runway's ephemeral uploads live a day
UPLOAD_WINDOW_SECONDS = 3600  # the upload URL's own life
URI_PREFIX = "runway://relay/"

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


def form_file(content_type: str, body: bytes) -> bytes | None:
    """The `file` part of a `multipart/form-data` body; None when there is none."""
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    parts = message_from_bytes(head + body, policy=HTTP).get_payload()
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, Message):
            continue
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else None
    return None


def data_uri(content_type: str, data: bytes) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"
