"""The usage ledger in PostgreSQL; daily budgets are read from it."""

from __future__ import annotations

from decimal import Decimal

import asyncpg

from verdicts.inference.gateway import Ledger, UsageRecord

SCHEMA = "inference"


class PostgresLedger(Ledger):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def spent_today(self, route: str) -> Decimal:
        spent = await self.pool.fetchval(
            f"SELECT coalesce(sum(cost_usd), 0) FROM {SCHEMA}.usage "
            "WHERE route = $1 AND at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
            route,
        )
        return Decimal(spent)

    async def record(self, usage: UsageRecord) -> None:
        await self.pool.execute(
            f"INSERT INTO {SCHEMA}.usage (route, backend, model, caller, tokens_in, tokens_out, cost_usd, "
            "latency_ms, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            usage.route,
            usage.backend,
            usage.model,
            usage.caller,
            usage.tokens_in,
            usage.tokens_out,
            usage.cost_usd,
            usage.latency_ms,
            usage.outcome,
        )
