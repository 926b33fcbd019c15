"""The usage ledger and daily budgets in PostgreSQL (SQL only; the rules are in ``domain``)."""

from __future__ import annotations

from decimal import Decimal

import asyncpg

from verdicts.inference.ledger import BudgetRefused, Reservation, UsageRecord

SCHEMA = "inference"

# One statement: the day's row is created or updated only while it stays within the limit;
# concurrent reservations queue on the row lock and each sees the others' amounts.
RESERVE = f"""
INSERT INTO {SCHEMA}.budget_days AS b (route, day, reserved_usd, spent_usd)
SELECT $1::text, (now() AT TIME ZONE 'UTC')::date, $2::numeric, 0 WHERE $2::numeric <= $3::numeric
ON CONFLICT (route, day) DO UPDATE SET reserved_usd = b.reserved_usd + EXCLUDED.reserved_usd
WHERE b.spent_usd + b.reserved_usd + EXCLUDED.reserved_usd <= $3::numeric
RETURNING day
"""
TODAY = f"""
SELECT spent_usd, reserved_usd FROM {SCHEMA}.budget_days
WHERE route = $1 AND day = (now() AT TIME ZONE 'UTC')::date
"""
USAGE_COLUMNS = (
    "route, backend, model, caller, tokens_in, tokens_out, cache_read_tokens, cache_write_tokens, "
    "cost_usd, latency_ms, outcome"
)
RECORD = f"INSERT INTO {SCHEMA}.usage ({USAGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
RELEASE = f"""
UPDATE {SCHEMA}.budget_days SET reserved_usd = reserved_usd - $3, spent_usd = spent_usd + $4
WHERE route = $1 AND day = $2
"""
# Settle and record in one statement: both land or neither does.
SETTLE_AND_RECORD = f"""
WITH settled AS (
    UPDATE {SCHEMA}.budget_days SET reserved_usd = reserved_usd - $13, spent_usd = spent_usd + $9
    WHERE route = $1 AND day = $12
)
{RECORD}
"""


class PostgresLedger:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def reserve(self, route: str, amount: Decimal, limit: Decimal) -> Reservation:
        day = await self.pool.fetchval(RESERVE, route, amount, limit)
        if day is None:
            row = await self.pool.fetchrow(TODAY, route)
            raise BudgetRefused(
                Decimal(row["spent_usd"]) if row else Decimal(0),
                Decimal(row["reserved_usd"]) if row else Decimal(0),
            )
        return Reservation(route, day, amount)

    async def settle(self, reservation: Reservation | None, usage: UsageRecord | None) -> None:
        if usage is None:
            if reservation is not None:
                await self.pool.execute(RELEASE, reservation.route, reservation.day, reservation.amount, 0)
            return
        values = (
            usage.route,
            usage.backend,
            usage.model,
            usage.caller,
            usage.tokens_in,
            usage.tokens_out,
            usage.cache_read_tokens,
            usage.cache_write_tokens,
            usage.cost_usd,
            usage.latency_ms,
            usage.outcome,
        )
        if reservation is None:
            await self.pool.execute(RECORD, *values)
        else:
            await self.pool.execute(SETTLE_AND_RECORD, *values, reservation.day, reservation.amount)

    async def spent_today(self, route: str) -> Decimal:
        row = await self.pool.fetchrow(TODAY, route)
        return Decimal(row["spent_usd"]) if row else Decimal(0)
