"""Idempotent consumers: claim an event id in the same transaction as its effect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from verdicts.platform.db import Conn, check_schema_name


async def claim_event(conn: Conn, schema: str, consumer: str, event_id: str) -> bool:
    """True the first time ``consumer`` sees ``event_id``; call inside the effect's transaction."""
    status = await conn.execute(
        f'INSERT INTO "{check_schema_name(schema)}".processed_events (consumer, event_id) '
        "VALUES ($1, $2) ON CONFLICT DO NOTHING",
        consumer,
        event_id,
    )
    return bool(status == "INSERT 0 1")


@asynccontextmanager
async def process_once(
    pool: asyncpg.Pool, schema: str, consumer: str, event_id: str
) -> AsyncIterator[Conn | None]:
    """Yield a connection in an open transaction, or ``None`` when the event was already handled.

    The claim commits or rolls back with whatever the block writes, so a crash
    half way leaves the event unclaimed and its redelivery does the work once.
    """
    async with pool.acquire() as conn, conn.transaction():
        yield conn if await claim_event(conn, schema, consumer, event_id) else None
