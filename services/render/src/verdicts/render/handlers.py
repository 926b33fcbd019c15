"""render's bus subscribers: keep the read model and queue the pages an event touches. Events
about a tool render has not heard of yet are held, and applied when the tool arrives."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from faststream import Context
from faststream.nats import NatsRouter

from verdicts.contracts import (
    PanelVerdictUpdated,
    ReviewCompleted,
    TallyUpdated,
    Tool,
    ToolAnnounced,
    ToolUpdated,
)
from verdicts.contracts.subjects import INGEST_STREAM, PANEL_STREAM, VOTES_STREAM
from verdicts.platform.broker import durable_subscriber
from verdicts.platform.db import Conn
from verdicts.platform.idempotency import process_once
from verdicts.platform.service import Runtime
from verdicts.platform.settings import PlatformSettings
from verdicts.render import store
from verdicts.render.views import rivals

Applier = Callable[[Conn, Any], Awaitable[None]]
TOOL_EVENTS: dict[str, tuple[type[Any], Applier]] = {
    ReviewCompleted.SUBJECT: (ReviewCompleted, store.apply_review),
    PanelVerdictUpdated.SUBJECT: (PanelVerdictUpdated, store.apply_panel),
    TallyUpdated.SUBJECT: (TallyUpdated, store.apply_tally),
}


async def refresh_rivals(conn: Conn, slug: str, limit: int) -> None:
    """Publish ahead the comparisons with the tool's nearest rivals."""
    tool = await store.tool_record(conn, slug)
    if tool is None or limit == 0:
        return
    others = await store.category_tools(conn, tool.category)
    nearest = rivals(tool, await store.review_text(conn, slug), others, limit)
    added = await store.add_pairs(conn, [(slug, r) for r in nearest], "rival")
    await store.mark_dirty(conn, [f"compare:{a}:{b}" for a, b in added])


async def tool_arrived(conn: Conn, tool: Tool, version: int, rivals_limit: int) -> None:
    await store.lock_tool(conn, tool.slug)
    if not await store.apply_tool(conn, tool, version):
        return
    for subject, payload in await store.take_held(conn, tool.slug):
        model, apply = TOOL_EVENTS[subject]
        await apply(conn, model.model_validate_json(payload))
    await refresh_rivals(conn, tool.slug, rivals_limit)
    await store.mark_dirty(conn, await store.pages_touched_by(conn, tool.slug))


async def about_tool(conn: Conn, slug: str, event: Any, rivals_limit: int) -> None:
    await store.lock_tool(conn, slug)
    if not await store.known(conn, slug):
        await store.hold(conn, slug, event.SUBJECT, event.model_dump_json())
        return
    _, apply = TOOL_EVENTS[event.SUBJECT]
    await apply(conn, event)
    if isinstance(event, PanelVerdictUpdated):  # reviews name competitors: rivals may change
        await refresh_rivals(conn, slug, rivals_limit)
    await store.mark_dirty(conn, await store.pages_touched_by(conn, slug))


def register(router: NatsRouter, platform: PlatformSettings, rivals_limit: int) -> None:
    def subscriber(subject: str, stream: Any, durable: str) -> Callable[..., Any]:
        return durable_subscriber(router, subject, stream=stream, durable=durable, settings=platform)

    @subscriber(ToolAnnounced.SUBJECT, INGEST_STREAM, "render-announced")
    async def render_announced_tool(event: ToolAnnounced, runtime: Runtime = Context("runtime")) -> None:
        async with process_once(runtime.pool, store.SCHEMA, "render-tools", event.event_id) as conn:
            if conn is not None:
                await tool_arrived(conn, event.tool, event.version, rivals_limit)

    @subscriber(ToolUpdated.SUBJECT, INGEST_STREAM, "render-updated")
    async def render_updated_tool(event: ToolUpdated, runtime: Runtime = Context("runtime")) -> None:
        async with process_once(runtime.pool, store.SCHEMA, "render-tools", event.event_id) as conn:
            if conn is not None:
                await tool_arrived(conn, event.tool, event.version, rivals_limit)

    @subscriber(ReviewCompleted.SUBJECT, PANEL_STREAM, "render-reviews")
    async def render_review(event: ReviewCompleted, runtime: Runtime = Context("runtime")) -> None:
        async with process_once(runtime.pool, store.SCHEMA, "render-reviews", event.event_id) as conn:
            if conn is not None:
                await about_tool(conn, event.tool_slug, event, rivals_limit)

    @subscriber(PanelVerdictUpdated.SUBJECT, PANEL_STREAM, "render-verdicts")
    async def render_verdict(event: PanelVerdictUpdated, runtime: Runtime = Context("runtime")) -> None:
        async with process_once(runtime.pool, store.SCHEMA, "render-verdicts", event.event_id) as conn:
            if conn is not None:
                await about_tool(conn, event.tool_slug, event, rivals_limit)

    @subscriber(TallyUpdated.SUBJECT, VOTES_STREAM, "render-tallies")
    async def render_tally(event: TallyUpdated, runtime: Runtime = Context("runtime")) -> None:
        async with process_once(runtime.pool, store.SCHEMA, "render-tallies", event.event_id) as conn:
            if conn is not None:
                await about_tool(conn, event.tool_slug, event, rivals_limit)
