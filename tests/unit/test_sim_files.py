"""The simulator's renders: one file of each format Runway's routes return, by suffix, and
the format a task's prompt picks. (That a browser decodes each is tests/browser's.)"""

from __future__ import annotations

import struct

import pytest

from receiver.devtools.simulator.files import _ogg_crc, served, silent_ogg, suffix_for
from receiver.lifecycle.rules.task import Output

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("name", "content_type", "magic"),
    [
        ("t.mp4", "video/mp4", b"ftyp"),
        ("t.png", "image/png", b"\x89PNG"),
        ("t.jpg", "image/jpeg", b"\xff\xd8\xff"),
        ("t.webp", "image/webp", b"WEBPVP8L"),
        ("t.wav", "audio/wav", b"WAVEfmt"),
        ("t.mp3", "audio/mpeg", b"\xff\xfb"),
        ("t.ogg", "audio/ogg", b"OggS"),
        ("t-poster.png", "image/png", b"\x89PNG"),
    ],
)
def test_each_format_is_served_as_its_type(name: str, content_type: str, magic: bytes) -> None:
    body, served_as = served(name)
    assert served_as == content_type and magic in body[:16]


def test_riff_and_ogg_sizes_and_checksums_hold() -> None:
    webp = served("t.webp")[0]
    assert struct.unpack("<I", webp[4:8])[0] == len(webp) - 8
    ogg = silent_ogg()
    pages = [b"OggS" + page for page in ogg.split(b"OggS")[1:]]
    assert [p[5] for p in pages] == [0x02, 0, 0x04]  # first, middle, last
    for page in pages:
        blank = page[:22] + b"\0\0\0\0" + page[26:]
        assert struct.unpack("<I", page[22:26])[0] == _ogg_crc(blank)
    mp3 = served("t.mp3")[0]
    frames = range(0, len(mp3), 417)
    assert len(mp3) % 417 == 0 and all(mp3[i : i + 2] == b"\xff\xfb" for i in frames)


@pytest.mark.parametrize(
    ("output", "prompt", "suffix"),
    [
        ("image", "a lighthouse", ".png"),
        ("image", "a lighthouse format=webp", ".webp"),
        ("image", "format=JPG", ".jpg"),
        ("audio", "rain", ".wav"),
        ("audio", "rain format=ogg", ".ogg"),
        ("audio", "rain format=webp", ".wav"),  # not a sound: the default
        ("video", "format=mp3", ".mp4"),
    ],
)
def test_a_prompt_picks_its_format_among_its_outputs(
    output: Output, prompt: str, suffix: str
) -> None:
    assert suffix_for(output, prompt) == suffix
