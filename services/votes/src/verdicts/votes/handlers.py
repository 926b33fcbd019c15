"""votes' bus subscribers (thin): remember the tools ingest announces, newest version kept."""

from __future__ import annotations

from faststream.nats import NatsRouter

from verdicts.contracts import ToolAnnounced, ToolUpdated
from verdicts.contracts.subjects import INGEST_STREAM
from verdicts.platform.broker import durable_subscriber
from verdicts.platform.deps import DbPool
from verdicts.platform.settings import PlatformSettings
from verdicts.votes import store


def register(router: NatsRouter, platform: PlatformSettings) -> None:
    @durable_subscriber(
        router, ToolAnnounced.SUBJECT, stream=INGEST_STREAM, durable="votes-announced", settings=platform
    )
    async def remember_announced_tool(event: ToolAnnounced, pool: DbPool) -> None:
        async with pool.acquire() as conn:
            await store.remember_tool(conn, event.tool, event.version)

    @durable_subscriber(
        router, ToolUpdated.SUBJECT, stream=INGEST_STREAM, durable="votes-updated", settings=platform
    )
    async def remember_updated_tool(event: ToolUpdated, pool: DbPool) -> None:
        async with pool.acquire() as conn:
            await store.remember_tool(conn, event.tool, event.version)
