"""The renders the simulator's CDN serves: the video and poster of `media/`, and tiny but
valid images and sounds made here in code, one of each format Runway's routes return.

A task's format is its kind's output type's default, or the one its prompt names with
`format=<suffix>` (`format=webp`, `format=ogg`...), so that one simulator serves every
format to the same test.
"""

from __future__ import annotations

import io
import math
import re
import struct
import wave
from functools import cache
from pathlib import Path

from receiver.lifecycle.rules.task import Output

_MEDIA = Path(__file__).parent / "media"
# Each output type's formats by suffix, its default first.
FORMATS: dict[Output, tuple[str, ...]] = {
    "video": (".mp4",),
    "image": (".png", ".jpg", ".webp"),
    "audio": (".wav", ".mp3", ".ogg"),
}
_CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".webp": "image/webp",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
}


def suffix_for(output: Output, prompt: str) -> str:
    """The suffix of a task's render: the format its prompt names, if its output type has
    one by that name, else the type's default."""
    named = re.search(r"\bformat=(\w+)", prompt)
    asked = f".{named[1].lower()}" if named else ""
    return asked if asked in FORMATS[output] else FORMATS[output][0]


def served(name: str) -> tuple[bytes, str]:
    """A file of the CDN by its name's suffix; any other name is the picture."""
    suffix = Path(name).suffix.lower()
    if suffix not in _CONTENT_TYPES:
        suffix = ".png"
    return _body(suffix), _CONTENT_TYPES[suffix]


@cache
def _body(suffix: str) -> bytes:
    if suffix == ".mp4":
        return (_MEDIA / "render.mp4").read_bytes()
    if suffix == ".png":
        return (_MEDIA / "poster.png").read_bytes()
    made = {".jpg": grey_jpeg, ".webp": pixel_webp, ".wav": tone_wav, ".mp3": silent_mp3}
    return made.get(suffix, silent_ogg)()


def tone_wav(seconds: float = 0.5, rate: int = 8000, pitch: float = 440.0) -> bytes:
    """A WAV file: a short sine tone, mono, 16-bit."""
    frames = b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * pitch * i / rate)))
        for i in range(int(seconds * rate))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(rate)
        sound.writeframes(frames)
    return out.getvalue()


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def grey_jpeg() -> bytes:
    """A baseline JPEG of 8x8 mid-grey pixels: one block whose coefficients are all zero,
    so each Huffman table needs one code ("0": DC difference 0, then end of block)."""
    one_code = bytes([1] + [0] * 15) + b"\x00"  # one symbol of one bit: symbol 0
    return b"".join(
        (
            b"\xff\xd8",
            _segment(0xDB, b"\x00" + b"\x01" * 64),  # quantisation table 0: all ones
            _segment(0xC0, b"\x08\x00\x08\x00\x08\x01\x01\x11\x00"),  # 8x8, one component
            _segment(0xC4, b"\x00" + one_code),  # DC table 0
            _segment(0xC4, b"\x10" + one_code),  # AC table 0
            _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),  # scan: component 1, tables 0/0
            b"\x3f",  # the bits 0 (DC) and 0 (EOB), padded with ones
            b"\xff\xd9",
        )
    )


def pixel_webp(argb: tuple[int, int, int, int] = (255, 64, 128, 192)) -> bytes:
    """A lossless WebP (VP8L) of one pixel: each of its five prefix codes is a "simple"
    code of one symbol, so the pixel itself takes no bits."""
    bits: list[tuple[int, int]] = [(0, 14), (0, 14), (0, 1), (0, 3)]  # 1x1, no alpha, v0
    bits += [(0, 1), (0, 1), (0, 1)]  # no transform, no colour cache, no meta codes
    alpha, red, green, blue = argb
    for symbol in (green, red, blue, alpha):
        bits += [(1, 1), (0, 1), (1, 1), (symbol, 8)]  # simple, one symbol, 8 bits wide
    bits += [(1, 1), (0, 1), (0, 1), (0, 1)]  # distance: simple, one symbol, 1 bit: 0
    value = width = 0
    for field, size in bits:
        value |= field << width
        width += size
    data = b"\x2f" + value.to_bytes((width + 7) // 8, "little")
    chunk = b"VP8L" + struct.pack("<I", len(data)) + data + b"\x00" * (len(data) % 2)
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def silent_mp3(frames: int = 20) -> bytes:
    """MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, mono: frames of silence (side information
    and main data all zero), 417 bytes each, about 26 ms each."""
    header = b"\xff\xfb\x90\xc0"
    return (header + bytes(417 - len(header))) * frames


def _ogg_crc(page: bytes) -> int:
    crc = 0
    for byte in page:
        crc ^= byte << 24
        for _ in range(8):
            crc = (crc << 1) ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1
        crc &= 0xFFFFFFFF
    return crc


def _ogg_page(packets: list[bytes], sequence: int, granule: int, flags: int) -> bytes:
    lacing = b"".join(bytes([255] * (len(p) // 255) + [len(p) % 255]) for p in packets)
    head = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, 0x52454C41, sequence, 0, 0)
    page = head[:-1] + bytes([len(lacing)]) + lacing + b"".join(packets)
    return page[:22] + struct.pack("<I", _ogg_crc(page)) + page[26:]


def silent_ogg(packets: int = 25) -> bytes:
    """Ogg Opus, mono: its two header pages, then 20 ms packets of CELT silence (the
    three bytes encoders send for a silent frame); half a second."""
    pre_skip = 312
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, pre_skip, 48000, 0, 0)
    vendor = b"runway-relay simulator"
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    return b"".join(
        (
            _ogg_page([head], 0, 0, 0x02),
            _ogg_page([tags], 1, 0, 0),
            _ogg_page([b"\xf8\xff\xfe"] * packets, 2, 960 * packets, 0x04),
        )
    )
