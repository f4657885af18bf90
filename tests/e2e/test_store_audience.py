"""Who an event goes to, read from the store in the event's own transaction, on both backends:
the global downstreams and the task's app's (never another app's), as another replica left
them a moment ago (made, changed, resealed, disabled, removed), without this process having
looked at the changes; and the downstreams made before the app's column, found by it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from receiver.config import Downstream
from receiver.deliveries import reads as delivery_reads
from receiver.deliveries import transactions as delivery
from receiver.downstreams import transactions as downstream_transactions
from receiver.downstreams.subscribers import subscribers
from receiver.kernel.secrets.sealing import Sealer, seal_url
from receiver.kernel.store import Store
from receiver.kernel.store.db import Db, Sql
from receiver.kernel.store.migrate import migrate, migrations
from receiver.lifecycle.rows.events import RELAY_TASK
from receiver.lifecycle.rules.records import NewTask
from receiver.lifecycle.rules.task import Observation
from receiver.lifecycle.transactions.observe import Audience, Report, observe
from receiver.outbox.rules.delivery import SECRET_HELD, DeliveryFilter, owned_name
from tests.e2e.test_store import with_stores
from tests.transactions import make_task

pytestmark = pytest.mark.every_backend

KEY, OTHER_KEY = "audience-key-" + "a" * 32, "another-relay-" + "b" * 32
ALPHA, BETA = "app_" + "a" * 24, "app_" + "b" * 24


def spec(sealer: Sealer, name: str, **settings: Any) -> dict[str, Any]:
    return seal_url(sealer, {"url": "https://hooks.test/x", **settings}, name)


def secret(sealer: Sealer, name: str) -> str:
    return sealer.seal("whsec_" + "c" * 32, name)


def sealed_by(sealer: Sealer, name: str) -> tuple[str, str]:
    """Its secret sealed, and the key it was sealed under (as the API creates it)."""
    return secret(sealer, name), sealer.current_key


async def make(store: Store, sealer: Sealer, name: str, **settings: Any) -> None:
    """A downstream made through the API, as another replica makes it."""
    await downstream_transactions.create(
        store, name, spec(sealer, name, **settings), sealed_by(sealer, name)
    )


async def ended(store: Store, owner: str | None, audience: Audience) -> dict[str, tuple[str, Any]]:
    """A new task of `owner` succeeded: each delivery made, (state, last error) by downstream."""
    task, _ = await make_task(store, NewTask("video2video", {"t": time.time()}, owner_key=owner))
    obs = Observation(state="succeeded", upstream_task_id=f"up-{task.id}")
    await observe(store, task.id, Report("poll", "done", obs, "{}"), audience)
    made = await delivery_reads.deliveries(store, DeliveryFilter(task_id=task.id))
    return {d.downstream: (d.state, d.last_error) for d in made}


def test_an_event_goes_to_its_apps_downstreams_as_the_store_has_them_now(
    storage_url: str,
) -> None:
    sealer = Sealer([KEY])
    crm, ops, chan = (owned_name(ALPHA, n) for n in ("crm", "ops", "orders"))
    sealed, theirs = owned_name(ALPHA, "sealed"), owned_name(BETA, "crm")
    shared = Downstream(name="shared", url="https://hooks.test/s", events=["succeeded"])

    async def scenario(stores: list[Store]) -> None:
        here, there = stores  # this replica, and the one the changes are made on
        await here.migrate()
        # Made before the first of the downstreams: it reads them in each event's transaction.
        audience = Audience(subscribers([shared], sealer))
        await make(there, sealer, crm, events=["succeeded"])
        await make(there, sealer, ops, events=["downstream.disabled"])
        await make(there, sealer, chan, events=["succeeded"], channels=["orders"])
        # Its secret sealed under a key this relay does not have: its rows wait, held.
        unknown = sealed_by(Sealer([OTHER_KEY]), sealed)
        await downstream_transactions.create(
            there, sealed, spec(sealer, sealed, events=["succeeded"]), unknown
        )
        await make(there, sealer, theirs, events=["succeeded"])
        await make(there, sealer, "everyone", events=["succeeded"])
        await downstream_transactions.register(there, ["shared"])

        assert await ended(here, ALPHA, audience) == {
            "shared": ("pending", None),
            "everyone": ("pending", None),
            crm: ("pending", None),
            sealed: ("held", SECRET_HELD),
        }
        assert await ended(here, None, audience) == {
            "shared": ("pending", None),
            "everyone": ("pending", None),
        }
        assert set(await ended(here, BETA, audience)) == {"shared", "everyone", theirs}

        # Changed there: here at once, the version it had worked out no longer stands.
        await downstream_transactions.change(there, crm, spec(sealer, crm, events=["failed"]))
        await downstream_transactions.reseal(
            there, sealed, secret(sealer, sealed), None, sealer.current_key
        )
        assert set(await ended(here, ALPHA, audience)) == {"shared", "everyone", sealed}
        assert (await ended(here, ALPHA, audience))[sealed] == ("pending", None)

        # Disabled there: held here; its notice told to the app's own and no other app's.
        await downstream_transactions.change(there, crm, spec(sealer, crm, events=["succeeded"]))
        assert await delivery.disable(there, crm, "by its app", audience.subscribers)
        notices = await delivery_reads.deliveries(there, DeliveryFilter(task_id=RELAY_TASK))
        assert [(d.downstream, d.state) for d in notices] == [(ops, "pending")]
        assert (await ended(here, ALPHA, audience))[crm] == ("held", None)

        await downstream_transactions.remove(there, crm, "removed")
        assert crm not in await ended(here, ALPHA, audience)

    with_stores(storage_url, 2, scenario)


ADD_ROW = Sql("INSERT INTO downstreams (name, spec, sealed_secret) VALUES (?, '{}', 'x')")
APP_OF = Sql("SELECT name, app_id FROM downstreams ORDER BY name")


def test_the_downstreams_made_before_are_found_by_their_app(storage_url: str) -> None:
    """The migration reads each row's app from its name, as `owner_of` does."""
    key = "key_" + "0123456789abcdef01234567"
    names = {
        owned_name(ALPHA, "crm"): ALPHA,
        owned_name(key, "eu.crm"): key,
        "global": "",
        "app_" + "z" * 24 + ".lookalike": "",  # not hexadecimal: a global name
        "app_" + "a" * 24: "",  # no name after the app's id
    }
    before = [m for m in migrations() if m.name != "0036_downstream_apps.sql"]

    def add(db: Db) -> None:
        migrate(db, before)
        for name in names:
            db.execute(ADD_ROW, (name,))

    async def scenario(stores: list[Store]) -> dict[str, str]:
        [store] = stores
        await store.run(add, timeout=60)  # every migration but the last, in one transaction
        await store.migrate()
        return {r["name"]: r["app_id"] for r in await store.read(lambda db: db.all(APP_OF))}

    assert with_stores(storage_url, 1, scenario) == names
