"""PostgreSQL least privilege: each service's role owns its schema and nothing else.

The harness provisions the roles in each module's database as `verdicts up` does
(``verdicts.platform.db_roles.provision``); these tests log in as them.
"""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

import verdicts.ingest
from verdicts.platform.db import migrate
from verdicts.platform.db_roles import role_name, with_credentials

pytestmark = pytest.mark.integration

INGEST_MIGRATIONS = Path(verdicts.ingest.__file__).parent / "migrations"


@pytest.fixture(scope="module")
def urls(service_database_urls: dict[str, str]) -> dict[str, str]:
    if not service_database_urls:
        pytest.skip("DATABASE_URL may not create roles: services share it")
    return service_database_urls


@pytest.fixture(scope="module")
def prefix(role_passwords: tuple[str, dict[str, str]]) -> str:
    return role_passwords[0]


@pytest.fixture(scope="module")
async def ingest_migrated(urls: dict[str, str]) -> None:
    """ingest's schema migrated by its own role (which may not create schemas)."""
    pool = await asyncpg.create_pool(urls["ingest"], min_size=1, max_size=1)
    assert pool is not None
    try:
        assert "platform/001_outbox.sql" in await migrate(pool, "ingest", INGEST_MIGRATIONS)
        assert await migrate(pool, "ingest", INGEST_MIGRATIONS) == []
    finally:
        await pool.close()


async def as_role(urls: dict[str, str], schema: str) -> asyncpg.Connection:
    return await asyncpg.connect(urls[schema])


async def test_review_panels_role_cannot_read_ingests_tools(urls, prefix, ingest_migrated, db):
    await db.execute(
        "INSERT INTO ingest.tools (slug, vendor_key, category_key, current_version, content_hash, record) "
        "VALUES ('t', 'acme', 'writing', 1, 'h', '{}') ON CONFLICT DO NOTHING"
    )
    conn = await as_role(urls, "review_panel")
    try:
        assert await conn.fetchval("SELECT current_user") == role_name("review_panel", prefix)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await conn.fetch("SELECT * FROM ingest.tools")
    finally:
        await conn.close()
    ingest = await as_role(urls, "ingest")
    try:
        assert await ingest.fetchval("SELECT count(*) FROM ingest.tools") >= 1  # its owner reads it
    finally:
        await ingest.close()


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE ingest.intruder (a int)",
        "CREATE TABLE public.intruder (a int)",
        "CREATE TABLE intruder (a int)",
        "CREATE SCHEMA intruder",
        "CREATE TEMP TABLE intruder (a int)",
        "CREATE TABLE access.intruder (a int)",
        "INSERT INTO access.api_keys (key_id, digest, name, scopes) VALUES ('k', '\\x00', 'n', '{admin}')",
        "UPDATE access.api_keys SET revoked_at = NULL",
        "DELETE FROM access.key_usage",
        "COPY (SELECT 1) TO PROGRAM 'true'",
        "CREATE ROLE intruder",
        "CREATE DATABASE intruder",
    ],
)
async def test_a_service_role_creates_nothing_outside_its_schema(urls, ingest_migrated, statement):
    conn = await as_role(urls, "review_panel")
    try:
        # Refused for lack of a right; an unqualified name finds no schema it may use at all.
        with pytest.raises((asyncpg.InsufficientPrivilegeError, asyncpg.InvalidSchemaNameError)):
            await conn.execute(statement)
    finally:
        await conn.close()


async def test_service_roles_read_keys_and_count_usage_only(urls):
    conn = await as_role(urls, "votes")
    try:
        await conn.fetch("SELECT key_id FROM access.api_keys")
        await conn.fetch("SELECT amount FROM access.key_usage")
        await conn.execute("CREATE TABLE votes.mine (a int)")  # its own schema: anything
        await conn.execute("DROP TABLE votes.mine")
        role = await conn.fetchrow(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles "
            "WHERE rolname = current_user"
        )
        assert role is not None
        assert not any(role.values())
    finally:
        await conn.close()


async def test_passwords_are_required_and_kept_as_scram(urls, prefix, database_url):
    votes = role_name("votes", prefix)
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(with_credentials(urls["votes"], votes, "not-its-password"))
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval("SELECT rolpassword FROM pg_authid WHERE rolname = $1", votes)
        assert stored.startswith("SCRAM-SHA-256$")
    finally:
        await conn.close()
