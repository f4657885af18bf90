"""The head-size cap: only a request's head counts, however the bytes are cut into reads."""

from __future__ import annotations

from receiver.kernel.http.connections import MAX_HEAD_BYTES, HeadSize

HEAD = b"POST /callbacks/runway/t HTTP/1.1\r\nHost: relay\r\n"
LINE = b"X-Filler: " + b"a" * 990 + b"\r\n"


def fed(size: HeadSize, data: bytes, read: int) -> bool:
    """Whether any read of `data`, cut into reads of `read` bytes, was too large."""
    return any(size.too_large(data[at : at + read]) for at in range(0, len(data), read))


def sized(body: bytes) -> bytes:
    return HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body


def chunked(body: bytes, piece: int = 16384) -> bytes:
    pieces = [body[at : at + piece] for at in range(0, len(body), piece)]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
    return HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + framed + b"0\r\n\r\n"


def test_header_lines_past_the_cap_are_too_large_in_any_reads() -> None:
    endless = HEAD + LINE * (2 * MAX_HEAD_BYTES // len(LINE))
    for read in (100, 1000, 65536, len(endless)):
        assert fed(HeadSize(), endless, read), read


def test_one_line_that_never_ends_is_too_large() -> None:
    line = HEAD + b"X-Filler: " + b"a" * (3 * MAX_HEAD_BYTES)
    assert fed(HeadSize(), line, 4096)


def test_a_head_under_the_cap_is_not() -> None:
    head = HEAD + LINE * (MAX_HEAD_BYTES // len(LINE) - 1) + b"\r\n"
    assert not fed(HeadSize(), head, 1000)


def test_bodies_far_past_the_cap_are_not_heads() -> None:
    body = b" " * (16 * MAX_HEAD_BYTES)
    requests = sized(body) + chunked(body) + sized(body) + chunked(b"x")
    for read in (1000, 65536, 262144):
        assert not fed(HeadSize(), requests, read), read


def test_each_request_gets_its_own_cap() -> None:
    near = HEAD + LINE * (MAX_HEAD_BYTES // len(LINE) - 2) + b"Content-Length: 0\r\n\r\n"
    assert not fed(HeadSize(), near * 5, 65536)


def test_bytes_that_are_not_http_are_left_to_uvicorn() -> None:
    size = HeadSize()
    assert not size.too_large(b"\x16\x03\x01 not a request\r\n\r\n")
    assert not size.too_large(b"a" * (2 * MAX_HEAD_BYTES))
