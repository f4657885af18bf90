"""Runway's ephemeral uploads as the relay keeps them (receiver/media/rules/uploads.py)."""

from __future__ import annotations

import httpx
import pytest

from receiver.devtools.simulator.files import served
from receiver.media.rules import uploads

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


def test_the_file_part_of_the_sdks_form() -> None:
    data = b"\x89PNG\r\n\x1a\n\r\n--x\x00\xff" * 100
    sent = httpx.Request("POST", "http://x/", data={"key": "v"}, files={"file": ("a.png", data)})
    assert uploads.form_file(sent.headers["content-type"], sent.read()) == data
    other = httpx.Request("POST", "http://x/", files={"other": ("a.png", data)})
    assert uploads.form_file(other.headers["content-type"], other.read()) is None
    assert uploads.form_file("application/json", b"{}") is None


def test_a_data_uri_of_the_file() -> None:
    assert uploads.data_uri("image/png", b"ab") == "data:image/png;base64,YWI="
