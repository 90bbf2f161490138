"""Forward-only SQL migrations, recorded in ``schema_migrations``.

Files ``db/migrations/NNNN_name.sql`` are applied in order, each in its own transaction,
as the OWNER role. An applied migration whose file changed is an error: migrations are
never edited, only added. A session advisory lock makes concurrent starts safe.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_ID = 0x7472_6964  # "trid"


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    pass


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        version, _, name = path.stem.partition("_")
        if not version.isdigit():
            raise MigrationError(f"migration file {path.name} must start with a number")
        found.append(Migration(version, name, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise MigrationError(f"duplicate migration versions in {directory}")
    return found


async def migrate(owner_dsn: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations; return the versions applied now."""
    conn = await asyncpg.connect(owner_dsn)
    try:
        await conn.execute("select pg_advisory_lock($1)", _LOCK_ID)
        try:
            return await _apply_pending(conn, discover(directory))
        finally:
            await conn.execute("select pg_advisory_unlock($1)", _LOCK_ID)
    finally:
        await conn.close()


async def _apply_pending(conn: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    await conn.execute(
        """create table if not exists schema_migrations (
               version text primary key, name text not null, checksum text not null,
               applied_at timestamptz not null default now())"""
    )
    applied = {r["version"]: r["checksum"] for r in await conn.fetch("select version, checksum from schema_migrations")}
    done: list[str] = []
    for m in migrations:
        if m.version in applied:
            if applied[m.version] != m.checksum:
                raise MigrationError(
                    f"migration {m.version}_{m.name} changed after it was applied; add a new migration instead"
                )
            continue
        async with conn.transaction():
            await conn.execute(m.sql)
            await conn.execute(
                "insert into schema_migrations (version, name, checksum) values ($1, $2, $3)",
                m.version,
                m.name,
                m.checksum,
            )
        log.info("migration applied", extra={"version": m.version, "migration": m.name})
        done.append(m.version)
    return done


__all__ = ["Migration", "MigrationError", "discover", "migrate"]
