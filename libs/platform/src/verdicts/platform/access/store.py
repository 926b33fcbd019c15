"""SQL for keys and their usage counters (schema ``access``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import asyncpg

from verdicts.platform.access.keys import ApiKey, NewKey, Scope

SCHEMA = "access"
MIGRATIONS = Path(__file__).parent / "migrations"
CHANNEL = "verdicts_access_keys"
"""NOTIFY channel: the payload is the key id whose state changed."""


def _key(row: asyncpg.Record) -> ApiKey:
    return ApiKey(
        key_id=row["key_id"],
        name=row["name"],
        scopes=frozenset(Scope(s) for s in row["scopes"]),
        vendors=frozenset(row["vendors"]),
        revoked=row["revoked_at"] is not None,
    )


async def create_key(
    pool: asyncpg.Pool, new: NewKey, name: str, scopes: frozenset[Scope], vendors: frozenset[str]
) -> ApiKey:
    row = await pool.fetchrow(
        "INSERT INTO access.api_keys (key_id, digest, name, scopes, vendors) VALUES ($1, $2, $3, $4, $5) "
        "RETURNING key_id, name, scopes, vendors, revoked_at",
        new.key_id,
        new.digest,
        name,
        sorted(s.value for s in scopes),
        sorted(vendors),
    )
    assert row is not None
    return _key(row)


async def find_key(pool: asyncpg.Pool, key_id: str, digest: bytes) -> ApiKey | None:
    """The key whose id and digest both match (the digest compared inside PostgreSQL, by equality
    of 32 random bytes: timing reveals nothing an attacker could use)."""
    row = await pool.fetchrow(
        "SELECT key_id, name, scopes, vendors, revoked_at FROM access.api_keys "
        "WHERE key_id = $1 AND digest = $2",
        key_id,
        digest,
    )
    return None if row is None else _key(row)


async def list_keys(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT key_id, name, scopes, vendors, created_at, revoked_at FROM access.api_keys "
        "ORDER BY created_at, key_id"
    )


async def revoke_key(pool: asyncpg.Pool, key_id: str) -> bool:
    """Revoke and tell every process (NOTIFY is sent when the transaction commits)."""
    async with pool.acquire() as conn, conn.transaction():
        done = await conn.fetchval(
            "UPDATE access.api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE key_id = $1 "
            "RETURNING key_id",
            key_id,
        )
        if done is not None:
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, key_id)
    return done is not None


async def has_admin_key(pool: asyncpg.Pool) -> bool:
    return bool(
        await pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM access.api_keys WHERE 'admin' = ANY(scopes) AND revoked_at IS NULL)"
        )
    )


async def consume(
    pool: asyncpg.Pool, key_id: str, kind: str, amount: int, limit: int, window: dt.timedelta
) -> dt.datetime | None:
    """Count ``amount`` against ``limit`` in the current window: None when it fits (and is counted),
    else when the window ends. One statement, so concurrent replicas never overspend."""
    start = _window_start(window)
    counted = await pool.fetchval(
        "INSERT INTO access.key_usage AS u (key_id, kind, window_start, amount) "
        "SELECT $1, $2, $3, $4::bigint WHERE $4::bigint <= $5::bigint "
        "ON CONFLICT (key_id, kind, window_start) DO UPDATE SET amount = u.amount + EXCLUDED.amount "
        "WHERE u.amount + EXCLUDED.amount <= $5::bigint RETURNING amount",
        key_id,
        kind,
        start,
        amount,
        limit,
    )
    return None if counted is not None else start + window


async def refund(pool: asyncpg.Pool, key_id: str, kind: str, amount: int, window: dt.timedelta) -> None:
    """Give back part of what ``consume`` counted in the current window (a reservation settled lower)."""
    await pool.execute(
        "UPDATE access.key_usage SET amount = greatest(0, amount - $4::bigint) "
        "WHERE key_id = $1 AND kind = $2 AND window_start = $3",
        key_id,
        kind,
        _window_start(window),
        amount,
    )


async def used(pool: asyncpg.Pool, key_id: str, kind: str, window: dt.timedelta) -> int:
    start = _window_start(window)
    value = await pool.fetchval(
        "SELECT amount FROM access.key_usage WHERE key_id = $1 AND kind = $2 AND window_start = $3",
        key_id,
        kind,
        start,
    )
    return int(value or 0)


def _window_start(window: dt.timedelta) -> dt.datetime:
    seconds = int(window.total_seconds())
    return dt.datetime.fromtimestamp(dt.datetime.now(dt.UTC).timestamp() // seconds * seconds, dt.UTC)
