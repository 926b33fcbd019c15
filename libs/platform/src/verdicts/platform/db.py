"""asyncpg pool and a forward-only migrations runner (one schema per service)."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
"""A plain connection or one borrowed from a pool."""

log = logging.getLogger(__name__)

PLATFORM_MIGRATIONS = Path(__file__).parent / "migrations"
_SCHEMA_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_MIGRATION_FILE = re.compile(r"^(\d{3,})_[a-z0-9_]+\.sql$")


class MigrationError(RuntimeError):
    pass


def check_schema_name(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    return schema


async def create_pool(dsn: str, *, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=max_size, command_timeout=30)
    assert pool is not None
    return pool


@dataclass(frozen=True, slots=True)
class Migration:
    """One SQL file; ``{schema}`` in its text is the owning service's schema."""

    source: str
    name: str
    sql: str

    @property
    def version(self) -> str:
        return f"{self.source}/{self.name}"

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(source: str, directory: Path) -> list[Migration]:
    files = sorted(p for p in directory.glob("*.sql"))
    for path in files:
        if not _MIGRATION_FILE.match(path.name):
            raise MigrationError(f"migration file {path} must be named NNN_name.sql")
    return [Migration(source, p.name, p.read_text()) for p in files]


async def migrate(
    pool: asyncpg.Pool, schema: str, service_dir: Path | None, *, platform_tables: bool = True
) -> list[str]:
    """Apply the platform tables, then the service's own files, each once, in order.

    A transaction-scoped advisory lock per schema makes two replicas starting at
    once take turns; the loser finds everything applied. Returns what it applied.
    A role that may only use the schema (not change it) passes when nothing is
    left to apply: the check before the lock only reads.
    """
    async with pool.acquire() as conn:
        return await migrate_connection(conn, schema, service_dir, platform_tables=platform_tables)


async def migrate_connection(
    conn: Conn, schema: str, service_dir: Path | None, *, platform_tables: bool = True
) -> list[str]:
    """``migrate`` on one connection (as whatever role it has, e.g. after ``SET ROLE``)."""
    check_schema_name(schema)
    migrations = load_migrations("platform", PLATFORM_MIGRATIONS) if platform_tables else []
    if service_dir is not None and service_dir.is_dir():
        migrations += load_migrations(schema, service_dir)
    if await _up_to_date(conn, schema, migrations):
        return []
    applied: list[str] = []
    try:
        async with conn.transaction():
            await _apply(conn, schema, migrations, applied)
    except asyncpg.InsufficientPrivilegeError as exc:
        role = await conn.fetchval("SELECT current_user")
        raise MigrationError(
            f"the database role {role} may not migrate schema {schema} ({exc}); "
            f"connect as the schema's owner to apply its migrations"
        ) from None
    if applied:
        log.info("migrated", extra={"schema": schema, "applied": applied})
    return applied


async def _up_to_date(conn: Conn, schema: str, migrations: list[Migration]) -> bool:
    """Every migration applied with its checksum: nothing to lock or create."""
    try:
        if await conn.fetchval("SELECT to_regclass($1)", f'"{schema}".schema_migrations') is None:
            return False
        done = {
            r["version"]: r["checksum"]
            for r in await conn.fetch(f'SELECT version, checksum FROM "{schema}".schema_migrations')
        }
    except asyncpg.InsufficientPrivilegeError:
        return False
    return all(done.get(m.version) == m.checksum for m in migrations)


async def _apply(conn: Conn, schema: str, migrations: list[Migration], applied: list[str]) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"verdicts.migrate.{schema}")
    # CREATE ... IF NOT EXISTS still needs the right to create: a schema's owner without CREATE on
    # the database must not be asked for it when the schema is already there.
    if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema):
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    if await conn.fetchval("SELECT to_regclass($1)", f'"{schema}".schema_migrations') is None:
        await conn.execute(
            f"""CREATE TABLE "{schema}".schema_migrations (
                    version text PRIMARY KEY,
                    checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())"""
        )
    done = {
        r["version"]: r["checksum"]
        for r in await conn.fetch(f'SELECT version, checksum FROM "{schema}".schema_migrations')
    }
    for migration in migrations:
        if migration.version in done:
            if done[migration.version] != migration.checksum:
                raise MigrationError(
                    f"migration {migration.version} in schema {schema} was changed after it "
                    "was applied; migrations are forward-only: add a new file instead"
                )
            continue
        await conn.execute(migration.sql.replace("{schema}", f'"{schema}"'))
        await conn.execute(
            f'INSERT INTO "{schema}".schema_migrations (version, checksum) VALUES ($1, $2)',
            migration.version,
            migration.checksum,
        )
        applied.append(migration.version)


async def ping(pool: asyncpg.Pool) -> None:
    async with pool.acquire(timeout=2) as conn:
        await conn.fetchval("SELECT 1")
