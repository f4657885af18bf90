"""Schema migrations: numbered SQL files in `migrations/`, applied once, never edited.

Each applied migration's SHA-256 is kept. A file whose text no longer matches what was
applied stops start-up: the database was built by other SQL than the file now says, so the
fix is a new migration, not an edit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from receiver.errors import StoreError
from receiver.persist.db import Db


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self) -> list[str]:
        code = "\n".join(line for line in self.sql.splitlines() if not line.startswith("--"))
        return [s.strip() for s in code.split(";") if s.strip()]


def migrations() -> list[Migration]:
    """Every migration file shipped with the package, in order."""
    found = []
    for entry in resources.files("receiver.persist.migrations").iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append(Migration(version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def migrate(db: Db, available: list[Migration] | None = None) -> list[int]:
    """Apply the migrations this database lacks; safe when two processes start at once."""
    db.lock_migrations()
    db.script("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)")
    db.script(
        "CREATE TABLE IF NOT EXISTS migration_checksums"
        " (version INTEGER PRIMARY KEY, checksum TEXT NOT NULL)"
    )
    done = {row["version"] for row in db.all(db.sql.APPLIED_MIGRATIONS)}
    sums = {r["version"]: r["checksum"] for r in db.all(db.sql.MIGRATION_CHECKSUMS)}
    applied = []
    for migration in available if available is not None else migrations():
        if migration.version in done:
            if migration.version not in sums:
                # Applied before checksums were kept: what is shipped now is taken as is.
                _keep_checksum(db, migration)
            elif sums[migration.version] != migration.checksum:
                raise StoreError(
                    f"migration {migration.name} was edited after it was applied to this"
                    " database; restore it and put the change in a new migration"
                )
            continue
        for statement in migration.statements():
            db.script(statement)  # DDL both dialects accept, with no parameters
        db.execute(db.sql.MARK_MIGRATED, (migration.version,))
        _keep_checksum(db, migration)
        applied.append(migration.version)
    return applied


def _keep_checksum(db: Db, migration: Migration) -> None:
    db.execute(db.sql.KEEP_CHECKSUM, (migration.version, migration.checksum))
