"""Runway's ephemeral uploads as the relay keeps them (receiver/media/rules/uploads.py), and
the file out of the SDK's form (receiver/runway_api/uploads.py, Starlette's parser)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.datastructures import Headers

from receiver.devtools.simulator.files import served
from receiver.kernel.errors import MalformedRequest
from receiver.media.rules import uploads
from receiver.runway_api.uploads import form_file

pytestmark = pytest.mark.unit


def test_a_file_is_taken_by_its_name_and_its_first_bytes() -> None:
    for name in ("x.mp4", "x.png", "x.jpg", "x.webp", "x.wav", "x.mp3", "x.ogg"):
        data, content_type = served(name)
        assert uploads.type_of(name.upper()) == content_type
        assert uploads.looks_like(content_type, data[:16]), name
    assert uploads.type_of("notes.txt") is None and uploads.type_of("noext") is None
    assert uploads.type_of("a.Png") is None and uploads.type_of("a.png\n") is None
    assert not uploads.looks_like("image/png", b"#!/bin/sh\n")
    assert not uploads.looks_like("text/plain", b"hello")


def _file_of(request: httpx.Request) -> bytes:
    return asyncio.run(form_file(Headers(dict(request.headers)), request.read()))


def test_the_file_part_of_the_sdks_form() -> None:
    data = b"\x89PNG\r\n\x1a\n\r\n--x\x00\xff" * 100
    fields = {"key": "v", "metadata": "{}"}
    sent = httpx.Request("POST", "http://x/", data=fields, files={"file": ("a.png", data)})
    assert _file_of(sent) == data
    other = httpx.Request("POST", "http://x/", files={"other": ("a.png", data)})
    with pytest.raises(MalformedRequest, match="in a field named file"):
        _file_of(other)
    with pytest.raises(MalformedRequest, match="multipart/form-data"):
        _file_of(httpx.Request("POST", "http://x/", json={}))


def test_a_form_of_many_parts_is_refused_at_the_first_part_too_many() -> None:
    many = {f"f{i}": "v" for i in range(100_000)}
    sent = httpx.Request("POST", "http://x/", data=many, files={"file": ("a.png", b"x")})
    with pytest.raises(MalformedRequest, match="Maximum number of fields is 8"):
        _file_of(sent)
    two = [("file", ("a.png", b"x")), ("file", ("b.png", b"y"))]
    with pytest.raises(MalformedRequest, match="Maximum number of files is 1"):
        _file_of(httpx.Request("POST", "http://x/", files=two))
    big = {"metadata": "x" * (uploads.MAX_FIELD_BYTES + 1)}
    with pytest.raises(MalformedRequest, match="Part exceeded maximum size"):
        _file_of(httpx.Request("POST", "http://x/", data=big, files={"file": ("a.png", b"x")}))
    newlines = Headers({"content-type": "multipart/form-data; boundary=b"})
    with pytest.raises(MalformedRequest, match="in a field named file"):
        asyncio.run(form_file(newlines, b"\n" * (24 * 1024 * 1024)))


def test_a_keys_quota_of_bytes_in_an_hour() -> None:
    now, hour = 10_000.0, uploads.QUOTA_WINDOW_SECONDS
    assert uploads.quota_wait(0, 10**12, [], 10**9, now) is None  # 0: no quota
    assert uploads.quota_wait(100, 60, [(now - 10, 60)], 40, now) is None
    # Over it: room frees when enough of the oldest uploads have left the window.
    oldest = [(now - 3000, 30), (now - 2000, 30), (now - 10, 40)]
    assert uploads.quota_wait(100, 100, oldest, 50, now) == round(now - 2000 + hour - now)
    assert uploads.quota_wait(100, 100, oldest, 1, now) == round(now - 3000 + hour - now)
    # Fewer read than it needs: the last one read says when to ask again; never below 1 s.
    assert uploads.quota_wait(100, 100, oldest[:1], 90, now) == 600
    assert uploads.quota_wait(100, 100, [(now - hour, 100)], 1, now) == 1


def test_a_data_uri_of_the_file() -> None:
    assert uploads.data_uri("image/png", b"ab") == "data:image/png;base64,YWI="
