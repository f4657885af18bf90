"""The directory of downstreams (receiver/downstreams/directory.py) on a SQLite store of its
own: it holds no row at its start, reads a downstream made through the API when asked for
it, keeps at most `CACHED` of them opened (the least lately asked for read again), and
follows a change made through another process's directory within one refresh, telling the
fan-out which downstream changed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter

from receiver.config import Config, Downstream, Secrets, Settings
from receiver.downstreams import transactions
from receiver.downstreams.directory import Directory
from receiver.kernel.secrets.sealing import Sealer, seal_url
from receiver.kernel.store import Store, open_store

from .test_parts_alone import Lines

pytestmark = pytest.mark.unit
KEY = "directory-key-" + "k" * 32
CONFIG = Config(
    settings=Settings(),
    secrets=Secrets(api_key="a" * 32, admin_token="t" * 32, signing_keys=[KEY]),
    downstreams=[Downstream(name="ops", url="https://ops.example/in", events=["succeeded"])],
)


class Read:
    """The directory's count of the rows it read, as its metric has it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.counter = Counter("rows_read", "rows", registry=self.registry)

    def __call__(self) -> float:
        return self.registry.get_sample_value("rows_read_total") or 0.0


def _directory(store: Store) -> tuple[Directory, Read]:
    read = Read()
    return Directory(CONFIG, store, Sealer([KEY]), Lines(), read.counter), read


async def _make(store: Store, name: str, url: str) -> None:
    sealer = Sealer([KEY])
    spec = seal_url(sealer, {"url": url, "events": ["succeeded"]}, name)
    sealed = sealer.seal("whsec_" + "s" * 32, name), sealer.current_key
    await transactions.create(store, name, spec, sealed)


async def _bounded(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'relay.db'}")
    await store.migrate()
    try:
        for n in range(8):
            await _make(store, f"d{n}", f"https://d{n}.example/in")
        directory, read = _directory(store)
        directory.CACHED = 5
        await directory.start()
        assert read() == 0  # a start reads no downstream
        assert await directory.get("ops") is not None and read() == 0
        for n in range(8):
            found = await directory.get(f"d{n}")
            assert found is not None and found.url == f"https://d{n}.example/in"
        assert read() == 8
        assert await directory.get("d7") is not None  # among the five kept: not read again
        assert read() == 8
        assert await directory.get("d0") is not None  # the least lately asked: read again
        assert read() == 9
        assert not await directory.knows("none") and await directory.knows("d3")
    finally:
        await store.close()


def test_the_cache_keeps_a_bounded_number_of_downstreams(tmp_path: Path) -> None:
    asyncio.run(_bounded(tmp_path))


async def _followed(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'relay.db'}")
    await store.migrate()
    try:
        await _make(store, "shared", "https://first.example/in")
        here, _ = _directory(store)
        elsewhere, _ = _directory(store)  # another replica's, on the same store
        changed = here.followed()  # as the fan-out follows it
        await here.start()
        await elsewhere.start()
        first = await here.get("shared")
        assert first is not None and first.url == "https://first.example/in"
        sealer = Sealer([KEY])
        moved = seal_url(sealer, {"url": "https://second.example/in"}, "shared")
        await transactions.change(store, "shared", moved)
        await elsewhere.refresh()
        assert not changed  # not followed here yet: the change is the store's
        assert await here.refresh() and changed == {"shared"}
        now = await here.get("shared")
        assert now is not None and now.url == "https://second.example/in"
        await transactions.remove(store, "shared", "removed")
        assert await here.refresh() and await here.get("shared") is None
    finally:
        await store.close()


def test_a_change_made_elsewhere_is_followed_within_one_refresh(tmp_path: Path) -> None:
    asyncio.run(_followed(tmp_path))
