"""The panels on a real PostgreSQL: reviews of one panel stored at the same moment."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from panel_testing import SAMPLE

from verdicts.contracts import (
    Choice,
    PanelVerdictUpdated,
    ReviewCompleted,
    ReviewRequested,
    ReviewStatus,
    Tool,
)
from verdicts.ingest.domain import ToolSubmission, to_tool
from verdicts.platform.db import create_pool, migrate
from verdicts.review_panel import store
from verdicts.review_panel.domain import ReviewOutcome
from verdicts.review_panel.panels import PanelBook
from verdicts.review_panel.personas import load_roster

pytestmark = pytest.mark.integration

ROSTER = load_roster()
PERSONAS = ROSTER.ids


def sample_tool(raw: dict) -> Tool:
    return to_tool(ToolSubmission.model_validate(raw), category=raw["category"])


async def finish_again(panels: PanelBook, tool: Tool) -> None:
    job = ReviewRequested.create(tool_slug=tool.slug, tool_version=1, panel_run=1, persona=PERSONAS[0])
    assert not await panels.record(job, ReviewOutcome(ReviewStatus.FAILED, failure_reason="again"))


async def test_reviews_finishing_together_neither_deadlock_nor_lose_the_verdict(database_url):
    pool = await create_pool(database_url, max_size=8)
    try:
        await migrate(pool, store.SCHEMA, Path(store.__file__).parent / "migrations")
        panels = PanelBook(pool, ROSTER)
        tools = [sample_tool(raw) for raw in SAMPLE[:6]]
        for tool in tools:
            assert await panels.open(f"announced:{tool.slug}", tool, 1)

        async def finish(tool: Tool, persona: str) -> None:
            job = ReviewRequested.create(tool_slug=tool.slug, tool_version=1, panel_run=1, persona=persona)
            outcome = ReviewOutcome(ReviewStatus.COMPLETED, verdict=Choice.SHIP, review="r", confidence=0.5)
            assert await panels.record(job, outcome)

        await asyncio.gather(*(finish(t, p) for t in tools for p in PERSONAS))
        rows = await pool.fetch(f"SELECT status, ship FROM {store.SCHEMA}.panels")
        assert [(r["status"], r["ship"]) for r in rows] == [("complete", 4)] * len(tools)
        # each review published once, with its persona's name and place; one verdict per panel
        payloads = [
            json.loads(r["payload"]) for r in await pool.fetch(f"SELECT payload FROM {store.SCHEMA}.outbox")
        ]
        reviews = [p for p in payloads if p["type"] == ReviewCompleted.TYPE]
        assert len(reviews) == len(tools) * len(PERSONAS)
        assert {(p["persona"], p["persona_order"], p["persona_name"]) for p in reviews} == {
            (persona.id, order, persona.display_name) for order, persona in enumerate(ROSTER.personas)
        }
        verdicts = [p for p in payloads if p["type"] == PanelVerdictUpdated.TYPE]
        assert sorted(p["tool_slug"] for p in verdicts) == sorted(t.slug for t in tools)
        # a redelivered announcement opens nothing, a review stored twice is stored once
        assert not await panels.open(f"announced:{tools[0].slug}", tools[0], 1)
        await finish_again(panels, tools[0])
    finally:
        await pool.close()
