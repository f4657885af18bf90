"""The size cap on a request head where uvicorn parses with httptools, which bounds none
(h11 refuses a head past 16 KiB itself): within the head's deadline a fast client could
otherwise send megabytes of header lines."""

from __future__ import annotations

import httptools

MAX_HEAD_BYTES = 64 * 1024


class HeadSize:
    """A second httptools parser, fed the bytes uvicorn's gets, that only measures each
    request's head: its own framing tells a head from a body, as uvicorn's parser does.

    A chunk read wholly inside a head counts whole (a line that never ends calls back
    nothing); a chunk where a head starts or ends counts the URL and the header lines it
    completed."""

    def __init__(self) -> None:
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self._in_head = False
        self._size = 0  # of the current request's head
        self._began = False  # whether a request began in the chunk being parsed

    def too_large(self, data: bytes) -> bool:
        if self._parser is None:
            return False
        inside_from_the_start, size_before, self._began = self._in_head, self._size, False
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            # Not a request, or an upgrade (none is served): uvicorn's own parser meets the
            # same bytes and answers or drops them its own way.
            self._parser = None
            return False
        if inside_from_the_start and self._in_head and not self._began:
            self._size = size_before + len(data)  # every byte of it is of one head
        return self._size > MAX_HEAD_BYTES

    # httptools' callbacks
    def on_message_begin(self) -> None:
        self._in_head, self._size, self._began = True, 0, True

    def on_url(self, url: bytes) -> None:
        self._size += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._size += len(name) + len(value)

    def on_headers_complete(self) -> None:
        self._in_head = False
