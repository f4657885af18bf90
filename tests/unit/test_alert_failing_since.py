"""A failing alert says since when, even when its breaker opened on attempts whose outcomes
were not written yet (receiver/alerts/transactions.py): the alert's transaction found no
`failing_since` on the downstream's row and told none."""

from __future__ import annotations

from pathlib import Path

from receiver.alerts import rows as alert_rows
from receiver.alerts.transactions import Plan, alert_now
from receiver.downstreams import rows as downstream_rows
from receiver.kernel.store.db import Db
from receiver.outbox.rows import outbox
from receiver.outbox.rules.delivery import Subscribers
from receiver.outbox.rules.event_types import FAILING
from tests.testkit import migrated_sqlite


def _plan() -> Plan:
    def known(_db: Db, _name: str) -> bool:
        return True

    unjudged = Subscribers({}, (outbox.made_for, outbox.made_named), lambda _row: None)
    return Plan("ops", 60.0, 0.0, known, unjudged)


def _told_since(db: Db) -> float | None:
    [entry] = alert_rows.digest_entries(db, "", FAILING)
    return entry.failing_since


def test_a_failing_alert_before_its_failure_is_written_says_it_began_now(tmp_path: Path) -> None:
    conn, db = migrated_sqlite(tmp_path / "relay.db")
    downstream_rows.register(db, ["hook", "ops"])
    told = alert_now(db, "hook", FAILING, "HTTP 500", _plan(), 1000.0)
    assert told.sent == FAILING
    assert _told_since(db) == 1000.0
    conn.close()


def test_a_failing_alert_says_when_its_failures_began(tmp_path: Path) -> None:
    conn, db = migrated_sqlite(tmp_path / "relay.db")
    downstream_rows.register(db, ["hook", "ops"])
    conn.execute("UPDATE downstreams SET failing_since = 900 WHERE name = 'hook'")
    alert_now(db, "hook", FAILING, "HTTP 500", _plan(), 1000.0)
    assert _told_since(db) == 900.0
    conn.close()
