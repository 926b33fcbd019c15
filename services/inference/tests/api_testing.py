"""inference's HTTP routes for tests: the real app around a gateway the test chose, keys in headers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import asyncpg
from litestar import Litestar

from verdicts.inference.api import QUOTA_KIND, build_router
from verdicts.inference.gateway import Gateway
from verdicts.inference.store import SCHEMA, PostgresLedger
from verdicts.platform.access import store as access_store
from verdicts.platform.service import Runtime, ServiceSpec, build_app
from verdicts.platform.settings import PlatformSettings

MIGRATIONS = Path(__file__).parents[1] / "src" / "verdicts" / "inference" / "migrations"


def api_app(gateway: Gateway, settings: PlatformSettings, **platform: Any) -> Litestar:
    """What ``create_app`` serves (guards, key ring, problem+json, PostgreSQL ledger), on ``gateway``."""

    async def attach_ledger(runtime: Runtime) -> None:
        gateway.ledger = PostgresLedger(runtime.pool)

    spec = ServiceSpec(
        name="inference",
        schema=SCHEMA,
        route_handlers=[build_router(gateway)],
        migrations=MIGRATIONS,
        on_startup=[attach_ledger],
        uses_outbox=False,
        metrics_registries=[gateway.metrics.registry],
    )
    return build_app([spec], settings.model_copy(update=platform))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def tokens_used(database_url: str, key_id: str) -> int:
    """Today's count against the key's daily inference token quota."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    assert pool is not None
    try:
        return await access_store.used(pool, key_id, QUOTA_KIND, dt.timedelta(days=1))
    finally:
        await pool.close()
