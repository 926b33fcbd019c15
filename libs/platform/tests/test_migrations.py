"""Forward-only migrations: one schema per service, safe when replicas start together."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from verdicts.platform.db import PLATFORM_MIGRATIONS, MigrationError, check_schema_name, create_pool, migrate

pytestmark = pytest.mark.integration


@pytest.fixture
def service_migrations(tmp_path: Path) -> Path:
    (tmp_path / "001_things.sql").write_text("CREATE TABLE {schema}.things (id int PRIMARY KEY);")
    (tmp_path / "002_more.sql").write_text("ALTER TABLE {schema}.things ADD COLUMN name text;")
    return tmp_path


async def test_two_replicas_migrating_at_once_apply_each_file_once(database_url, service_migrations):
    pools = [await create_pool(database_url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(p, "race", service_migrations) for p in pools))
        applied = [r for r in results if r]
        assert len(applied) == 1
        platform = [f"platform/{f.name}" for f in sorted(PLATFORM_MIGRATIONS.glob("*.sql"))]
        assert "platform/001_outbox.sql" in platform
        assert applied[0] == [*platform, "race/001_things.sql", "race/002_more.sql"]
        cols = await pools[0].fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'race' AND table_name = 'things' ORDER BY ordinal_position"
        )
        assert [c["column_name"] for c in cols] == ["id", "name"]
        assert await migrate(pools[0], "race", service_migrations) == []
    finally:
        for p in pools:
            await p.close()


async def test_an_edited_applied_migration_is_refused(database_url, service_migrations):
    pool = await create_pool(database_url)
    try:
        await migrate(pool, "edited", service_migrations)
        (service_migrations / "001_things.sql").write_text("CREATE TABLE {schema}.other (id int);")
        with pytest.raises(MigrationError, match="forward-only"):
            await migrate(pool, "edited", service_migrations)
    finally:
        await pool.close()


async def test_a_failing_migration_leaves_nothing_half_applied(database_url, service_migrations):
    (service_migrations / "003_broken.sql").write_text("ALTER TABLE {schema}.nope ADD COLUMN x int;")
    pool = await create_pool(database_url)
    try:
        with pytest.raises(Exception, match="nope"):
            await migrate(pool, "broken", service_migrations)
        assert await pool.fetchval("SELECT to_regnamespace('broken') IS NULL")
    finally:
        await pool.close()


@pytest.mark.unit
@pytest.mark.parametrize("name", ['x"; DROP TABLE y; --', "Upper", "", "a" * 64, "1starts_with_digit"])
def test_schema_names_are_checked_before_any_sql(name):
    with pytest.raises(ValueError, match="invalid schema"):
        check_schema_name(name)
