"""Issuing and revoking keys: what ``verdicts keys``, ``verdicts up`` and tests call."""

from __future__ import annotations

import asyncpg

from verdicts.platform.access import store
from verdicts.platform.access.keys import ApiKey, Scope, check_vendor, new_key
from verdicts.platform.db import migrate


async def ensure_schema(pool: asyncpg.Pool) -> None:
    await migrate(pool, store.SCHEMA, store.MIGRATIONS, platform_tables=False)


async def issue_key(
    pool: asyncpg.Pool, name: str, scopes: frozenset[Scope], vendors: frozenset[str] = frozenset()
) -> tuple[str, ApiKey]:
    """A new key: ``(secret key, what is stored about it)``. The secret is shown once, never kept."""
    if not 1 <= len(name) <= 80:
        raise ValueError("a key's name is 1 to 80 characters")
    if Scope.TOOLS_WRITE in scopes and Scope.ADMIN not in scopes and not vendors:
        raise ValueError("a tools:write key must be bound to at least one vendor (--vendor)")
    for vendor in vendors:
        check_vendor(vendor)
    await ensure_schema(pool)
    fresh = new_key()
    return fresh.secret_key, await store.create_key(pool, fresh, name, scopes, vendors)


async def grant(dsn: str, *scopes: Scope, vendors: tuple[str, ...] = (), name: str = "test") -> str:
    """A key with ``scopes`` on the database at ``dsn`` (for tests and the CLI)."""
    conn_pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    assert conn_pool is not None
    try:
        secret, _ = await issue_key(conn_pool, name, frozenset(scopes), frozenset(vendors))
        return secret
    finally:
        await conn_pool.close()


async def revoke(dsn: str, key_id: str) -> bool:
    conn_pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    assert conn_pool is not None
    try:
        await ensure_schema(conn_pool)
        return await store.revoke_key(conn_pool, key_id)
    finally:
        await conn_pool.close()
