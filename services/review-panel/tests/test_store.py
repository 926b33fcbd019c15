"""The panel's SQL on a real PostgreSQL: reviews of one panel stored at the same moment."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from panel_testing import SAMPLE

from verdicts.contracts import Choice, ReviewRequested, ReviewStatus, Tool
from verdicts.ingest.domain import ToolSubmission, to_tool
from verdicts.platform.db import create_pool, migrate
from verdicts.review_panel import store

pytestmark = pytest.mark.integration

PERSONAS = ["developer-experience", "category-skeptic", "thesis", "buyer"]


def sample_tool(raw: dict) -> Tool:
    return to_tool(ToolSubmission.model_validate(raw), category=raw["category"])


async def test_reviews_finishing_together_neither_deadlock_nor_lose_the_verdict(database_url):
    pool = await create_pool(database_url, max_size=8)
    try:
        await migrate(pool, store.SCHEMA, Path(store.__file__).parent / "migrations")
        tools = [sample_tool(raw) for raw in SAMPLE[:6]]
        async with pool.acquire() as conn, conn.transaction():
            for tool in tools:
                await store.open_panel(conn, tool, 1, PERSONAS)

        async def finish(tool: Tool, persona: str) -> None:
            job = ReviewRequested.create(tool_slug=tool.slug, tool_version=1, panel_run=1, persona=persona)
            outcome = store.ReviewOutcome(
                ReviewStatus.COMPLETED, verdict=Choice.SHIP, review="r", confidence=0.5
            )
            async with pool.acquire() as conn, conn.transaction():
                await store.store_review(conn, job, outcome)

        await asyncio.gather(*(finish(t, p) for t in tools for p in PERSONAS))
        rows = await pool.fetch(f"SELECT status, ship FROM {store.SCHEMA}.panels")
        assert [(r["status"], r["ship"]) for r in rows] == [("complete", 4)] * len(tools)
    finally:
        await pool.close()
