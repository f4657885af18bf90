"""Delivery attempts: written as each ends, read for a task's timeline and the charts."""

from __future__ import annotations

from receiver.persist.sql.text import PerBackend, Texts

TEXTS: Texts = {
    "INSERT_ATTEMPT": (
        "INSERT INTO delivery_attempts (id, delivery_id, task_id, downstream, number, started_at,"
        " finished_at, latency_ms, status, error, outcome, excerpt)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    "TASK_ATTEMPTS": (
        "SELECT * FROM delivery_attempts WHERE task_id = ?"
        " ORDER BY finished_at DESC, id DESC LIMIT ?"
    ),
    "ENDED_ATTEMPTS": (
        "SELECT * FROM delivery_attempts WHERE finished_at > ? ORDER BY finished_at LIMIT ?"
    ),
    "ENDED_ATTEMPTS_OF_TASK": (
        "SELECT * FROM delivery_attempts WHERE finished_at > ? AND task_id = ?"
        " ORDER BY finished_at LIMIT ?"
    ),
    "LATENCY_BY_HOUR": PerBackend(
        sqlite=(
            "SELECT CAST(finished_at / 3600 AS INTEGER) * 3600 AS hour, downstream,"
            " AVG(latency_ms) AS ms, COUNT(*) AS n FROM delivery_attempts WHERE finished_at >= ?"
            " GROUP BY 1, 2 ORDER BY 1, 2"
        ),
        postgres=(
            "SELECT FLOOR(finished_at / 3600) * 3600 AS hour, downstream,"
            " AVG(latency_ms) AS ms, COUNT(*) AS n FROM delivery_attempts WHERE finished_at >= ?"
            " GROUP BY 1, 2 ORDER BY 1, 2"
        ),
    ),
}
