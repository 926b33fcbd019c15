"""Applying events to render's read model: one transaction per event, each event once.

A tool's record, reviews, panel verdicts, tallies and its category's ranking are kept as render's
own copy; an event
about a tool render has not heard of yet is held, and applied when the tool arrives. Each change
queues the pages it touches (and keeps the tool's nearest rival comparisons current).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg

from verdicts.contracts import (
    PanelVerdictUpdated,
    RankingUpdated,
    ReviewCompleted,
    TallyUpdated,
    Tool,
    ToolAnnounced,
    ToolUpdated,
)
from verdicts.platform.db import Conn
from verdicts.platform.idempotency import process_once
from verdicts.render import store
from verdicts.render.domain import (
    canonical_pairs,
    comparison_page,
    iso_week,
    pages_touched,
    rivals,
    rivals_may_change,
)

ToolFact = ReviewCompleted | PanelVerdictUpdated | TallyUpdated
"""An event about a known (or not yet known) tool."""

Applier = Callable[[Conn, Any], Awaitable[None]]
APPLIERS: dict[str, tuple[type[ToolFact], Applier]] = {
    ReviewCompleted.SUBJECT: (ReviewCompleted, store.apply_review),
    PanelVerdictUpdated.SUBJECT: (PanelVerdictUpdated, store.apply_panel),
    TallyUpdated.SUBJECT: (TallyUpdated, store.apply_tally),
}
CONSUMERS = {
    ToolAnnounced.SUBJECT: "render-tools",
    ToolUpdated.SUBJECT: "render-tools",
    ReviewCompleted.SUBJECT: "render-reviews",
    PanelVerdictUpdated.SUBJECT: "render-verdicts",
    TallyUpdated.SUBJECT: "render-tallies",
    RankingUpdated.SUBJECT: "render-rankings",
}
"""The processed-events consumer per subject (a redelivered event changes nothing twice)."""


async def refresh_rivals(conn: Conn, slug: str, limit: int) -> None:
    """Publish ahead the comparisons with the tool's nearest rivals."""
    tool = await store.tool_record(conn, slug)
    if tool is None or limit == 0:
        return
    others = await store.category_tools(conn, tool.category)
    nearest = rivals(tool, await store.review_texts(conn, slug), others, limit)
    added = await store.add_pairs(conn, canonical_pairs((slug, r) for r in nearest), "rival")
    await store.mark_dirty(conn, [comparison_page(a, b) for a, b in added])


async def queue_pages_of(conn: Conn, slug: str) -> None:
    """Queue every page that shows the tool for re-rendering."""
    placement = await store.tool_placement(conn, slug)
    if placement is not None:
        category, announced_at = placement
        await store.mark_dirty(
            conn, pages_touched(slug, category, announced_at, await store.pairs_of(conn, slug))
        )


async def tool_arrived(conn: Conn, tool: Tool, version: int, rivals_limit: int) -> None:
    """Keep the newest record, apply what was held for it, refresh rivals, queue its pages."""
    await store.lock_tool(conn, tool.slug)
    if not await store.apply_tool(conn, tool, version):
        return
    for subject, payload in await store.take_held(conn, tool.slug):
        model, apply = APPLIERS[subject]
        await apply(conn, model.model_validate_json(payload))
    await refresh_rivals(conn, tool.slug, rivals_limit)
    await queue_pages_of(conn, tool.slug)


async def about_tool(conn: Conn, event: ToolFact, rivals_limit: int) -> None:
    """Apply the event (or hold it until its tool arrives) and queue the pages it touches."""
    slug = event.tool_slug
    await store.lock_tool(conn, slug)
    if not await store.known(conn, slug):
        await store.hold(conn, slug, event.SUBJECT, event.model_dump_json())
        return
    _, apply = APPLIERS[event.SUBJECT]
    await apply(conn, event)
    if rivals_may_change(event.SUBJECT):
        await refresh_rivals(conn, slug, rivals_limit)
        # A new verdict may have flipped: this week's issue (and the feed) lists flips.
        await store.mark_dirty(conn, [f"issue:{iso_week(datetime.now(UTC))}", "feed"])
    await queue_pages_of(conn, slug)


async def ranking_arrived(conn: Conn, event: RankingUpdated) -> None:
    """Keep the category's ranking; queue its page and the comparisons that show its tools' standing."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"render:ranking:{event.category}")
    if await store.apply_ranking(conn, event):
        pairs = await store.pairs_in(conn, event.category)
        await store.mark_dirty(
            conn, [f"category:{event.category}", *(comparison_page(a, b) for a, b in pairs)]
        )


class ReadModel:
    """render's read model in PostgreSQL: what the bus handlers write events into."""

    def __init__(self, pool: asyncpg.Pool, rivals_limit: int) -> None:
        self.pool = pool
        self.rivals_limit = rivals_limit

    async def apply_tool(self, event: ToolAnnounced | ToolUpdated) -> None:
        """A tool announced or updated by ingest (an older version arriving late changes nothing)."""
        async with process_once(self.pool, store.SCHEMA, CONSUMERS[event.SUBJECT], event.event_id) as conn:
            if conn is not None:
                await tool_arrived(conn, event.tool, event.version, self.rivals_limit)

    async def apply_fact(self, event: ToolFact) -> None:
        """A review, panel verdict or tally about a tool."""
        async with process_once(self.pool, store.SCHEMA, CONSUMERS[event.SUBJECT], event.event_id) as conn:
            if conn is not None:
                await about_tool(conn, event, self.rivals_limit)

    async def apply_ranking(self, event: RankingUpdated) -> None:
        """A category's head-to-head ranking from votes."""
        async with process_once(self.pool, store.SCHEMA, CONSUMERS[event.SUBJECT], event.event_id) as conn:
            if conn is not None:
                await ranking_arrived(conn, event)
