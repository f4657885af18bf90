"""One process per kind of work on a SQLite file, held by an OS lock that dies with it.

A SQLite relay starts by taking back every lease on its file (a killed predecessor's rows
would otherwise wait for their leases to run out), which is only right while no other
process works on the file: a second `receiver serve` would free the first one's in-flight
deliveries and send them again. So each kind of work has a lock file beside the database,
held with flock(2) for the life of the process. The kernel drops it when the process ends,
however it ends: a `kill -9` leaves nothing stale behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os

from receiver.kernel.errors import StoreError


class WorkLock:
    def __init__(self, database: str, work: str, doing: str) -> None:
        self.database = database
        self.path = f"{database}-{work}.lock"
        self.doing = doing  # what the holder does, for the refusal: "running on", ...
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def take(self) -> None:
        """Hold the lock from now until `release()` or the end of the process; StoreError
        naming the holder's pid when another process holds it."""
        if self.held:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open the lock file {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _pid_in(fd)
            os.close(fd)
            raise StoreError(
                f"another relay process ({holder}) is already {self.doing} {self.database}"
            ) from None
        # The pid is for the refusal above only: the lock itself is the flock.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None


def _pid_in(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        return f"pid {int(os.pread(fd, 32, 0))}"
    return "pid unknown"  # the holder took the lock a moment ago and has not written it yet
