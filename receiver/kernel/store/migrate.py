"""Schema migrations: numbered SQL files in `migrations/`, applied once, never edited.

Each applied migration's SHA-256 is kept. A file whose text no longer matches what was
applied stops start-up: the database was built by other SQL than the file now says, so the
fix is a new migration, not an edit. So does a database that holds a migration this release
does not ship: a newer release migrated it, and this code may write what that schema no
longer has.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from receiver.kernel.errors import StoreError
from receiver.kernel.store.db import Db, Sql


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
    for entry in resources.files("receiver.kernel.store.migrations").iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append(Migration(version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


MARK_MIGRATED = Sql("INSERT INTO schema_migrations (version) VALUES (?)")


def migrate(db: Db, available: list[Migration] | None = None) -> list[int]:
    """Apply the migrations this database lacks; safe when two processes start at once."""
    shipped = available if available is not None else migrations()
    done = _known_schema(db, shipped)
    sums = _unedited(db, shipped, done)
    applied = []
    for migration in shipped:
        if migration.version in done:
            if migration.version not in sums:
                # Applied before checksums were kept: what is shipped now is taken as is.
                _keep_checksum(db, migration)
            continue
        for statement in migration.statements():
            db.script(statement)  # DDL both dialects accept, with no parameters
        db.execute(MARK_MIGRATED, (migration.version,))
        _keep_checksum(db, migration)
        applied.append(migration.version)
    return applied


def check_schema(db: Db, available: list[Migration] | None = None) -> None:
    """Refuse a database a newer release has migrated, applying nothing: what a process
    checks before it starts, so that it can say so in one line."""
    shipped = available if available is not None else migrations()
    _unedited(db, shipped, _known_schema(db, shipped))


APPLIED_MIGRATIONS = Sql("SELECT version FROM schema_migrations")


def missing(db: Db) -> list[int]:
    """The shipped migrations this database lacks: none once this release has migrated it
    (or a newer one has, expanding only)."""
    applied = {row["version"] for row in db.all(APPLIED_MIGRATIONS)}
    return [m.version for m in migrations() if m.version not in applied]


MIGRATION_CHECKSUMS = Sql("SELECT * FROM migration_checksums")


def _unedited(db: Db, shipped: list[Migration], done: set[int]) -> dict[int, str]:
    """The checksums kept for the applied migrations; StoreError when a shipped file no
    longer matches the one that was applied."""
    sums: dict[int, str] = {r["version"]: r["checksum"] for r in db.all(MIGRATION_CHECKSUMS)}
    for migration in shipped:
        kept = sums.get(migration.version)
        if migration.version in done and kept is not None and kept != migration.checksum:
            raise StoreError(
                f"migration {migration.name} was edited after it was applied to this"
                " database; restore it and put the change in a new migration"
            )
    return sums


def _known_schema(db: Db, shipped: list[Migration]) -> set[int]:
    """The versions applied to this database, under the migration lock; StoreError when it
    holds one this release does not ship."""
    db.lock_migrations()
    db.script("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)")
    db.script(
        "CREATE TABLE IF NOT EXISTS migration_checksums"
        " (version INTEGER PRIMARY KEY, checksum TEXT NOT NULL)"
    )
    done = {row["version"] for row in db.all(APPLIED_MIGRATIONS)}
    refusal = newer_schema(done, [m.version for m in shipped])
    if refusal:
        raise StoreError(refusal)
    return done


def newer_schema(applied: set[int], shipped: list[int]) -> str | None:
    """Why this release must not run on a database with these migrations applied, if so."""
    unknown = applied - set(shipped)
    if not unknown:
        return None
    return (
        f"the database schema is at version {max(applied)}, newer than this release knows"
        f" (up to {max(shipped, default=0)}); run the release that migrated it, or a newer"
        " one (docs/operations.md, upgrades)"
    )


KEEP_CHECKSUM = Sql("INSERT INTO migration_checksums (version, checksum) VALUES (?, ?)")


def _keep_checksum(db: Db, migration: Migration) -> None:
    db.execute(KEEP_CHECKSUM, (migration.version, migration.checksum))
