"""Liveness, and the migrations applied (migrate.py)."""

from __future__ import annotations

from receiver.kernel.store.sql.text import Texts

TEXTS: Texts = {
    "PING": "SELECT 1 AS ok",
    "APPLIED_MIGRATIONS": "SELECT version FROM schema_migrations",
    "MIGRATION_CHECKSUMS": "SELECT * FROM migration_checksums",
    "MARK_MIGRATED": "INSERT INTO schema_migrations (version) VALUES (?)",
    "KEEP_CHECKSUM": "INSERT INTO migration_checksums (version, checksum) VALUES (?, ?)",
}
