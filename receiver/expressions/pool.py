"""The processes that evaluate filters and transforms (receiver/expressions/worker.py), so
that no expression runs on the event loop's thread (the Rust core holds the GIL: a thread
would not do). A few (`SIZE`), started at their first use.

A request waits in its app's line (lines.py) until a process has no batch out; that
process's next batch is filled from the lines that used least of the processes' time
lately, so an app that asks now and then goes ahead of one that floods, and past
`MAX_WAITING` in its line a request is refused as an overload: one app's flood fills its
own line, never another's. What waits goes as one batch (one frame, one write, one answer):
the busier the pool, the bigger its batches.

Each evaluation's CPU and answer are bounded in the process's evaluator (worker.py). The
request it died on is stopped and the rest of its batch asked again, so an honest
evaluation beside a hostile one costs a second run, never a failure. When the whole process
dies (past `WALL_SECONDS`, or an answer too big), a bigger batch's requests are each asked
again alone, so only the one that kills a process alone is charged. A line stopped lately
(`APART_SECONDS`) is batched apart and kept off the first, reserved, process.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
from collections import deque
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, cast

import orjson

from receiver.expressions import worker as worker_script
from receiver.expressions.lines import Lines
from receiver.expressions.worker import CPU_SECONDS, FRAME, MEMORY_BYTES
from receiver.kernel.errors import Overloaded

SIZE = 2
DEPTH = 16  # requests given to one process: its batch out, and the next gathering
MAX_WAITING = 64  # in each line
WALL_SECONDS = 5.0
# A line whose request was stopped has batches of its own this long after: in a batch, a
# stop costs every other request's answer (each asked again), so another app's honest ones
# batched beside a hostile app's would be asked again without end.
APART_SECONDS = 10.0
# The frame of a reply (the bodies follow it, counted in it): each evaluation's answer is
# bounded in its evaluator (worker.py), so a bigger one is a process gone wrong.
_MAX_HEADER = 2 * 1024 * 1024
_COMMAND = (sys.executable, "-S", worker_script.__file__)
# What the process is given of the relay's environment: none of its secrets.
_PASSED = ("PATH", "LANG", "LC_ALL", "TMPDIR")


class Stopped(Exception):
    """An evaluation stopped for passing its budget: why, in words (who is named first)."""


def _environment() -> dict[str, str]:
    """Without site (`-S`), the process finds orjson and CEL where the relay does."""
    found = [importlib.util.find_spec(name) for name in ("orjson", "cel")]
    where = {str(Path(p).parent) for s in found if s for p in s.submodule_search_locations or ()}
    given = {name: os.environ[name] for name in _PASSED if name in os.environ}
    return given | {"PYTHONPATH": os.pathsep.join(sorted(where))}


def ended(returncode: int | None) -> str:
    """Why an evaluator (or a process) that did not answer ended, in words, after
    "stopped: "."""
    if returncode == -signal.SIGPROF:
        return f"it used more than {CPU_SECONDS * 1000:g} ms of CPU"
    # An allocation past RLIMIT_AS aborts the Rust core; the kernel's OOM killer kills.
    if returncode in (-signal.SIGABRT, -signal.SIGKILL):
        return f"it needed more than {MEMORY_BYTES // 2**20} MiB of memory"
    return f"its process ended unexpectedly (status {returncode})"


def _kill(pid: int) -> None:
    """A process and its evaluator (its session's group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _frame(batch: list[bytes]) -> bytes:
    """Requests, each already JSON, as one frame: a JSON list of them."""
    data = b"[" + b",".join(batch) + b"]"
    return FRAME.pack(len(data)) + data


def _body_length(answer: dict[str, Any]) -> int:
    transform = answer.get("transform")
    return transform["body"] if isinstance(transform, dict) and "body" in transform else 0


Answer = tuple[dict[str, Any], bytes]


@dataclass(eq=False, slots=True)
class Asked:
    """A request (its JSON), who waits for its answer, and the line it waits in."""

    request: bytes
    answered: asyncio.Future[Answer]
    line: str
    # Asked again in a batch of its own: a process died on its batch, on which request
    # of it is not known; alone, a death is its own.
    alone: bool = False


class _Worker(asyncio.SubprocessProtocol):
    """One process, given up to DEPTH requests, one batch out at a time: those given in one
    turn of the loop gather into the next, sent at its end in one write (each write wakes
    the process). Each answer is read as its bytes arrive (no stream, no task)."""

    def __init__(self, pool: Pool, reserved: bool) -> None:
        self.transport: asyncio.SubprocessTransport | None = None
        self.reserved = reserved  # takes no request of a line stopped lately
        self.alive = True
        self.ready = False  # its empty frame read: CEL loaded
        self.load = 0  # requests given and not yet answered
        self.out: list[Asked] = []  # the batch sent, unanswered
        self.gathering: list[Asked] = []
        self._sending = False  # a send is due at the end of this turn
        self._pool = pool  # told when requests leave, and given back those to ask again
        self._given = bytearray()
        self._header: Any = None
        self._late: asyncio.TimerHandle | None = None
        self._sent_at = 0.0  # when the batch out was sent
        self._killed_for: Exception | None = None  # what one asked alone is told, if so

    @classmethod
    async def start(cls, pool: Pool, reserved: bool) -> _Worker:
        _, worker = await asyncio.get_running_loop().subprocess_exec(
            lambda: cls(pool, reserved),
            *_COMMAND,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_environment(),
            start_new_session=True,  # its evaluator killed with it
        )
        return worker

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio's classes, though they do what those do.
        self.transport = cast(asyncio.SubprocessTransport, transport)

    def room(self) -> int:
        """How many more it takes now: none while a batch is out or a request asked alone
        is in its next."""
        if self.out or any(asked.alone for asked in self.gathering):
            return 0
        return DEPTH - self.load

    def give(self, asked: list[Asked]) -> None:
        self.gathering += asked
        self.load += len(asked)
        self._send_soon()

    def _send_soon(self) -> None:
        """At the end of this turn (those given in it join), unless a batch is out."""
        if self.gathering and not self.out and not self._sending:
            self._sending = True
            asyncio.get_running_loop().call_soon(self._send)

    def _send(self) -> None:
        """Those gathered, as one batch (a request whose caller went is left out)."""
        self._sending = False
        batch, self.gathering = self.gathering, []
        gone = [asked for asked in batch if asked.answered.done()]
        if gone:
            batch = [asked for asked in batch if not asked.answered.done()]
            self._left(len(gone))
        if not batch:
            return
        if not self.alive or self.transport is None:
            self._again(batch)
            return
        given = cast(asyncio.WriteTransport, self.transport.get_pipe_transport(0))
        given.write(_frame([asked.request for asked in batch]))
        self.out = batch
        self._sent_at = asyncio.get_running_loop().time()
        self._arm()

    def _left(self, count: int) -> None:
        self.load -= count
        self._pool.room()

    def _settle(self, answered: asyncio.Future[Answer], outcome: Answer | Exception) -> None:
        """One request leaves (its caller may have gone: the answer is dropped)."""
        if not answered.done():
            if isinstance(outcome, Exception):
                answered.set_exception(outcome)
            else:
                answered.set_result(outcome)

    def _again(self, asked: list[Asked]) -> None:
        """Requests this process will not answer, given back to the pool, first in line."""
        self._left(len(asked))
        self._pool.again(asked)

    def _arm(self) -> None:
        """The backstop for the batch out, once the process is ready: its own budget is CPU
        time, so one starved of CPU on a busy machine would wait without end."""
        if self._late is not None:
            self._late.cancel()
        self._late = None
        if self.out and self.ready:
            late = WALL_SECONDS * len(self.out)
            self._late = asyncio.get_running_loop().call_later(late, self._too_late)

    def _too_late(self) -> None:
        """Killed: which request was too slow is not known (see connection_lost)."""
        self._killed_for = Overloaded(
            f"an expression found no CPU within {WALL_SECONDS:g} s: the relay is busy"
        )
        self.kill()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        assert isinstance(data, bytes)
        self._given += data
        if not self.ready and len(self._given) >= FRAME.size:
            del self._given[: FRAME.size]
            self.ready = True
            self._arm()
        if self.ready and self.out and (answer := self._answer()) is not None:
            batch, self.out = self.out, []
            self._answered(batch, *answer)
            self._arm()
            self._send_soon()

    def _answered(self, batch: list[Asked], header: Any, lengths: list[int], body: bytes) -> None:
        took = asyncio.get_running_loop().time() - self._sent_at
        if isinstance(header, dict):  # its evaluator died on one (and was forked again)
            at = header["at"]
            self._pool.spent(batch[at].line, took)  # its own time, mostly
            self._left(1)
            self._settle(batch[at].answered, Stopped(ended(-header["died"])))
            self._pool.stopped(batch[at].line)
            self._again(batch[:at] + batch[at + 1 :])
            return
        start = 0
        for asked, answer, length in zip(batch, header, lengths, strict=True):
            self._pool.spent(asked.line, took / len(batch))
            self._settle(asked.answered, (answer, body[start : start + length]))
            start += length
        self._left(len(batch))

    def _answer(self) -> tuple[Any, list[int], bytes] | None:
        """The next whole answer in what was read, if it is all there, with the length of
        each request's body in it."""
        given = self._given
        if self._header is None:
            if len(given) < FRAME.size:
                return None
            (size,) = FRAME.unpack_from(given)
            if size > _MAX_HEADER:
                self._killed_for = Stopped(f"its answer was over {_MAX_HEADER // 2**20} MiB")
                self.kill()
                return None
            if len(given) < FRAME.size + size:
                return None
            self._header = orjson.loads(given[FRAME.size : FRAME.size + size])
            del given[: FRAME.size + size]
        header = self._header
        lengths = list(map(_body_length, header)) if isinstance(header, list) else []
        length = sum(lengths)
        if len(given) < length:
            return None
        body = bytes(given[:length])
        del given[:length]
        self._header = None
        return header, lengths, body

    def connection_lost(self, exc: Exception | None) -> None:
        """The process ended. A batch of one was the death of it; a bigger one's requests
        are each asked again alone, since any of them may be the culprit."""
        self.alive = False
        if self._late is not None:
            self._late.cancel()
        returncode = self.transport.get_returncode() if self.transport else None
        out, self.out = self.out, []
        gathering, self.gathering = self.gathering, []
        if len(out) == 1:
            self._left(1)
            self._settle(out[0].answered, self._killed_for or Stopped(ended(returncode)))
            self._pool.stopped(out[0].line)
        else:
            for asked in out:
                asked.alone = True
            self._again(out)
        self._again(gathering)

    def kill(self) -> None:
        self.alive = False
        if self.transport is not None:
            _kill(self.transport.get_pid())


class Pool:
    """SIZE processes, each given up to DEPTH requests; made for one event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._workers: list[_Worker | None] = [None] * SIZE
        self._starting: asyncio.Task[None] | None = None
        self._lines: Lines[Asked] = Lines()  # not yet given to a process
        self._alone: deque[Asked] = deque()  # to be asked again, each in a batch of its own
        self._stopped: dict[str, float] = {}  # until when a line's batches are its own
        self._handing = False  # a hand-out is due at the end of this turn

    async def ask(self, request: bytes, line: str) -> Answer:
        """The answer to one request (its JSON), waiting in `line` (its app's); Stopped saying
        why when its process died on it; Overloaded when too many wait in its line, or it
        found no CPU within WALL_SECONDS."""
        if self._lines.waiting(line) - self._room_left() >= MAX_WAITING:
            raise Overloaded(f"over {MAX_WAITING} expressions of its app wait to be evaluated")
        answered: asyncio.Future[Answer] = self.loop.create_future()
        self._lines.add(line, Asked(request, answered, line))
        self._hand_out_soon()
        return await answered

    def _room_left(self) -> int:
        """How many more the processes take now (a process yet to start: all of its)."""
        return sum(w.room() if w and w.alive else DEPTH for w in self._workers)

    def _hand_out_soon(self) -> None:
        if not self._handing:
            self._handing = True
            self.loop.call_soon(self._hand_out)

    def _hand_out(self) -> None:
        """Those waiting, to the processes with no batch out: first those to ask alone, each
        to a process with nothing given; then a batch for each, the least used lines' first,
        the reserved process's first. A process that died is started again."""
        self._handing = False
        alive = [w for w in self._workers if w is not None and w.alive]
        waiting = len(self._lines) + len(self._alone)
        if len(alive) < SIZE and self._starting is None and waiting:
            self._starting = self.loop.create_task(self._start())
        for _ in range(len(self._alone)):
            alone = self._alone.popleft()
            if alone.answered.done():
                continue
            empty = [w for w in alive if w.load == 0 and self._may(w, alone.line, None)]
            if empty:
                empty[0].give([alone])
            else:
                self._alone.append(alone)  # in its order, for the next to empty
        for worker in sorted(alive, key=lambda w: not w.reserved):
            space = worker.room()
            if not space or not self._lines:
                continue
            now = self.loop.time()
            mode = self._kind(worker.gathering[0].line) if worker.gathering else None
            given: list[Asked] = []
            while len(given) < space:
                asked = self._lines.take(now, partial(self._may, worker, mode=mode))
                if asked is None:
                    break
                if not asked.answered.done():  # else its caller went while it waited
                    mode = self._kind(asked.line)
                    given.append(asked)
            if given:
                worker.give(given)

    def _may(self, worker: _Worker, line: str, mode: str | None) -> bool:
        """Whether `worker` may take `line`'s next, into a batch of `mode` (None: empty)."""
        kind = self._kind(line)
        return not (worker.reserved and kind) and mode in (None, kind)

    def _kind(self, line: str) -> str:
        """Which requests it may share a batch with: a line whose requests were stopped
        lately shares with none but its own (a stop costs the answers of its whole batch,
        asked again); the others share with each other ("")."""
        stopped = self._stopped.get(line)
        return line if stopped is not None and self.loop.time() < stopped else ""

    @staticmethod
    def _reserved(n: int) -> bool:
        """The first process, of two or more, takes only lines with no stop lately: an app
        whose expressions pass their budget has the others, never all."""
        return n == 0 and SIZE > 1

    def spent(self, line: str, seconds: float) -> None:
        """One of `line`'s requests took `seconds` of a process: what its next are charged."""
        self._lines.spent(line, seconds)

    def stopped(self, line: str) -> None:
        """A request of `line` was stopped: for a while its batches hold only its own."""
        self._stopped[line] = self.loop.time() + APART_SECONDS

    async def _start(self) -> None:
        """Each missing process started, once; a failure to start is told to those waiting."""
        try:
            for n, worker in enumerate(self._workers):
                if worker is None or not worker.alive:
                    self._workers[n] = await _Worker.start(self, self._reserved(n))
        except Exception as exc:  # no process: nothing can be evaluated now
            for asked in [*self._alone, *self._lines.drain()]:
                if not asked.answered.done():
                    asked.answered.set_exception(exc)
            self._alone.clear()
        finally:
            self._starting = None
        self._hand_out_soon()

    def room(self) -> None:
        """Requests left a process: those waiting may take their place."""
        if self._lines or self._alone:
            self._hand_out_soon()

    def again(self, asked: list[Asked]) -> None:
        """Requests a process will not answer: first in their lines again (or to ask alone)."""
        for one in reversed(asked):
            if one.alone:
                self._alone.appendleft(one)
            else:
                self._lines.again(one.line, [one])
        self._hand_out_soon()

    def workers(self) -> list[int]:
        """The ids of its live processes (the bench reads their CPU)."""
        return [w.transport.get_pid() for w in self._workers if w and w.alive and w.transport]

    def close(self) -> None:
        """Its processes ended, their pipes closed (on a loop that ended, killed only)."""
        if self._starting is not None:
            self._starting.cancel()
        for worker in self._workers:
            if worker is not None and worker.transport is not None:
                _kill(worker.transport.get_pid())
                if not self.loop.is_closed():
                    worker.transport.close()
        self._workers = [None] * SIZE


_pools: dict[int, Pool] = {}


def pool() -> Pool:
    """This event loop's pool (a loop that ended left its processes killed)."""
    loop = asyncio.get_running_loop()
    found = _pools.get(id(loop))
    if found is None or found.loop is not loop:
        for old in list(_pools.values()):
            if old.loop.is_closed():
                old.close()
                _pools.pop(id(old.loop), None)
        found = _pools[id(loop)] = Pool()
    return found


def close() -> None:
    """This loop's processes ended, when it has any (the relay stopping): starts none."""
    found = _pools.pop(id(asyncio.get_running_loop()), None)
    if found is not None:
        found.close()


def ask_now(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The answers to checks, asked without an event loop (the config file, read before the
    relay serves): in one process, started again after any that stops it; a check that
    stopped it is answered `{"stopped": why}`."""
    answers: list[dict[str, Any]] = []
    while len(answers) < len(requests):
        rest = requests[len(answers) :]
        try:
            done = subprocess.run(
                _COMMAND,
                start_new_session=True,
                input=b"".join(_frame([orjson.dumps(request)]) for request in rest),
                capture_output=True,
                env=_environment(),
                timeout=WALL_SECONDS * len(rest),
                check=False,
            )
            out, returncode = done.stdout, done.returncode
        except subprocess.TimeoutExpired as exc:
            out, returncode = exc.stdout or b"", None
        out = out[FRAME.size :]  # its empty frame: ready
        while len(out) >= FRAME.size and len(answers) < len(requests):
            (size,) = FRAME.unpack(out[: FRAME.size])
            # Each check its own batch, so that one stopping it costs no other's answer.
            reply = orjson.loads(out[FRAME.size : FRAME.size + size])
            died = isinstance(reply, dict)
            answers.append({"stopped": ended(-reply["died"])} if died else reply[0])
            out = out[FRAME.size + size :]
        if len(answers) < len(requests):
            late = f"it took over {WALL_SECONDS:g} s"
            answers.append({"stopped": late if returncode is None else ended(returncode)})
    return answers
