"""The process that evaluates filters and transforms, started by
receiver/expressions/pool.py as `python -S <this file>` (orjson and CEL alone, so that it
starts again in a few tens of ms), one batch at a time over its stdin and stdout (each frame
a 4-byte big-endian length, then orjson), at nice 10 so the relay's event loop goes first.

Each request runs under a budget the kernel enforces: `ITIMER_PROF` armed for 80 ms of CPU,
SIGPROF left to end the process, so an expression is stopped whatever the Rust core (which
holds the GIL) is doing; `RLIMIT_AS` caps what it may allocate.

A batch is a list of requests, answered by one frame: the list of answers, then the
transforms' bodies, in order. An evaluation, `{"filter", "transform", "variables"}`, is
answered `{"filter": [matched, reason], "transform": {...}}` (its body's length in `body`;
a body over 1 MiB, or parts over 64 KiB, is the transform's own error, so that no answer
costs the batch's others); a check, `{"vet", "example"}`, `{"invalid": message}` or
`{"gives": type}`. Each batch is flushed before the next is read, so that the first one
unanswered when it dies is the one it died on.
"""

from __future__ import annotations

import base64
import importlib.machinery
import importlib.util
import mmap
import os
import re
import resource
import signal
import struct
import sys
from collections import OrderedDict
from datetime import timedelta
from typing import Any

import orjson

# 80 ms, so that with the evaluator forked again (~10-20 ms) a stopped one costs under 100 ms.
CPU_SECONDS = 0.08
MEMORY_BYTES = 512 * 1024 * 1024
# The most a transform's body may be, as JSON: a preview shows it, a delivery sends it.
MAX_BODY_BYTES = 1024 * 1024
# The most its method, path and headers may be, as JSON: bounded here, before the answer
# leaves, so that a batch's answer stays within what the pool reads (16 of these: 1 MiB).
MAX_PARTS_BYTES = 64 * 1024
# Compiled programs kept, by their text: a downstream's change compiles, an event does not.
PROGRAMS = 512
# What a transform may say besides the body.
ENVELOPE_KEYS = frozenset({"body", "method", "path", "headers"})
METHODS = frozenset({"POST", "PUT", "PATCH"})
_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")
FRAME = struct.Struct(">I")


def load_cel() -> Any:
    """The library's Rust extension (`cel.cel`: compile, Context), loaded without the
    package's `__init__`, which also imports its REPL (typer, rich, prompt_toolkit,
    pygments), so the image leaves those out."""
    package = importlib.util.find_spec("cel")
    where = package.submodule_search_locations if package else None
    spec = importlib.machinery.PathFinder.find_spec("cel.cel", where)
    if spec is None or spec.loader is None:
        raise ImportError("common-expression-language has no extension module cel.cel")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Invalid(Exception):
    """A source that does not compile: the parser's message, put in words by the parent."""


class Failed(Exception):
    """A transform that failed on the event; `over`: its body is over MAX_BODY_BYTES."""

    def __init__(self, why: str, over: bool = False) -> None:
        super().__init__(why)
        self.over = over


class Programs:
    """Compiled programs by their text, the least recently used dropped first; a text that
    does not compile is kept as its message."""

    def __init__(self, cel: Any) -> None:
        self.cel = cel
        self.kept: OrderedDict[str, Any] = OrderedDict()

    def get(self, source: str) -> Any:
        found = self.kept.get(source)
        if found is None:
            try:
                found = self.cel.compile(source)
            except ValueError as exc:
                found = Invalid(str(exc))
            self.kept[source] = found
            if len(self.kept) > PROGRAMS:
                self.kept.popitem(last=False)
        else:
            self.kept.move_to_end(source)
        if isinstance(found, Invalid):
            raise found
        return found


def why(exc: BaseException) -> str:
    text = str(exc).split(". ", 1)[0].strip()
    if isinstance(exc, KeyError):
        text = f"no field {text}"
    return text[:160] or type(exc).__name__


def verdict(programs: Programs, source: str, context: Any) -> list[Any]:
    """[matched, why not]: a filter that fails, or answers anything but true, is not matched."""
    try:
        result = programs.get(source).execute(context)
    except Invalid:
        return [False, "filter failed: it is not valid CEL"]
    except MemoryError:
        raise
    except BaseException as exc:  # a panic of the Rust core is a BaseException
        return [False, f"filter failed: {why(exc)}"]
    if result is True:
        return [True, None]
    if result is False:
        return [False, None]  # the parent names it
    return [False, f"filter gave a {type(result).__name__}, not a bool"]


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, timedelta):
        return f"{value.total_seconds():g}s"
    raise TypeError(type(value).__name__)


def _dumps(value: Any) -> bytes:
    try:
        body = orjson.dumps(value, default=_plain)
    except TypeError as exc:
        raise Failed(f"transform gave a value JSON cannot hold: {exc}") from None
    if len(body) > MAX_BODY_BYTES:
        raise Failed(
            f"transform made a body of {len(body):,} bytes, over {MAX_BODY_BYTES:,} (1 MiB)",
            over=True,
        )
    return body


def shape(programs: Programs, source: str, context: Any) -> tuple[dict[str, Any], bytes]:
    """The transform's parts and its body. A map is the body; a map of `body` with any of
    `method`, `path` and `headers` (and nothing else) says those too."""
    try:
        result = programs.get(source).execute(context)
    except Invalid:
        raise Failed("transform failed: it is not valid CEL") from None
    except MemoryError:
        raise
    except BaseException as exc:
        raise Failed(f"transform failed: {why(exc)}") from None
    if not isinstance(result, dict):
        raise Failed(f"transform gave a {type(result).__name__}, not a map")
    if not ("body" in result and result.keys() <= ENVELOPE_KEYS):
        return {"method": "POST", "path": "", "headers": {}}, _dumps(result)
    method = result.get("method", "POST")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise Failed(f"transform: method must be one of {', '.join(sorted(METHODS))}")
    path = result.get("path", "")
    if not isinstance(path, str) or (path and (not _PATH.match(path) or ".." in path)):
        raise Failed("transform: path must start with / and hold only URL path text")
    headers = result.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise Failed("transform: headers must be a map of strings")
    parts = {"method": method.upper(), "path": path, "headers": dict(headers)}
    if (size := len(orjson.dumps(parts))) > MAX_PARTS_BYTES:
        raise Failed(
            f"transform made headers and a path of {size:,} bytes, over {MAX_PARTS_BYTES:,}"
            " (64 KiB)",
            over=True,
        )
    return parts, _dumps(result["body"])


def evaluate(programs: Programs, request: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    context = programs.cel.Context(request["variables"])
    answer: dict[str, Any] = {}
    if (source := request.get("filter")) is not None:
        answer["filter"] = verdict(programs, source, context)
        if not answer["filter"][0] and not request.get("always"):
            return answer, b""
    if (source := request.get("transform")) is None:
        return answer, b""
    try:
        parts, body = shape(programs, source, context)
    except Failed as exc:
        answer["transform"] = {"error": str(exc), "over": exc.over}
        return answer, b""
    answer["transform"] = {**parts, "body": len(body)}
    return answer, body


def vet(programs: Programs, request: dict[str, Any]) -> dict[str, Any]:
    """Whether it compiles, and the type of its result on the example, if one is given (an
    expression that fails there may still suit the events it is meant for), with the
    headers a transform's result sets there (the caller judges them)."""
    try:
        program = programs.get(request["vet"])
    except Invalid as exc:
        return {"invalid": str(exc)}
    if request.get("example") is None:
        return {}
    try:
        result = program.execute(programs.cel.Context(request["example"]))
    except MemoryError:
        raise
    except BaseException:
        return {}
    answer: dict[str, Any] = {"gives": type(result).__name__}
    enveloped = isinstance(result, dict) and result.keys() <= ENVELOPE_KEYS and "body" in result
    if enveloped and isinstance(headers := result.get("headers"), dict):
        # As JSON carries them back: a name or a value that is not text as none, which the
        # caller refuses as such.
        answer["headers"] = {
            name if isinstance(name, str) else "": value if isinstance(value, str) else None
            for name, value in headers.items()
        }
    return answer


def answer(programs: Programs, request: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    # The kernel ends this process after CPU_SECONDS of CPU, in Python or in Rust alike:
    # armed afresh for each request, disarmed after the batch.
    signal.setitimer(signal.ITIMER_PROF, CPU_SECONDS)
    try:
        if "vet" in request:
            return vet(programs, request), b""
        return evaluate(programs, request)
    except MemoryError:
        return {"memory": True}, b""


def _read(fd: int, size: int) -> bytes | None:
    """Exactly `size` bytes (None at the end): never more, so that a request after the
    current one stays in the pipe for the next evaluator if this one dies."""
    given = b""
    while len(given) < size:
        chunk = os.read(fd, size - len(given))
        if not chunk:
            return None
        given += chunk
    return given


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def serve(programs: Programs, given: int, out: int, at: mmap.mmap) -> None:
    """Answer batches until the pipe ends (the evaluator: a fork of the supervisor), writing
    the place in the batch of each request before it begins to `at`, which the supervisor
    reads if it dies."""
    while (head := _read(given, FRAME.size)) is not None:
        FRAME.pack_into(at, 0, 0)  # a death before its first evaluation is the first's
        batch = _read(given, FRAME.unpack(head)[0])
        if batch is None:
            return
        replies, bodies = [], []
        for n, request in enumerate(orjson.loads(batch)):
            FRAME.pack_into(at, 0, n)
            reply, body = answer(programs, request)
            replies.append(reply)
            bodies.append(body)
        signal.setitimer(signal.ITIMER_PROF, 0)
        header = orjson.dumps(replies)
        _write(out, b"".join((FRAME.pack(len(header)), header, *bodies)))


def supervise(programs: Programs) -> None:
    """Fork an evaluator with CEL loaded, and another when it dies (a fork takes a few ms,
    a new process tens): its death told as a frame, `{"died": signal, "at": place}`, in
    place of the batch's answers it never wrote; the parent asks the rest of that batch
    again. The batches after it wait in the pipe for the next evaluator."""
    at = mmap.mmap(-1, FRAME.size)  # shared with each fork
    while True:
        pid = os.fork()
        if pid == 0:
            serve(programs, 0, 1, at)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        if not os.WIFSIGNALED(status):
            return  # the pipe ended: the relay is done with this process
        died = orjson.dumps({"died": os.WTERMSIG(status), "at": FRAME.unpack_from(at)[0]})
        _write(1, FRAME.pack(len(died)) + died)


def main() -> None:
    os.nice(10)
    signal.signal(signal.SIGPROF, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the relay's ^C is the relay's to handle
    programs = Programs(load_cel())
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    # Ready: an empty frame. The parent's clock for an answer starts here, not at its start
    # (an interpreter and CEL loaded: seconds on a busy machine).
    _write(1, FRAME.pack(0))
    supervise(programs)


if __name__ == "__main__":
    main()
