"""votes' bus subscribers (thin): remember the tools ingest announces."""

from __future__ import annotations

from faststream import Context
from faststream.nats import NatsRouter

from verdicts.contracts import ToolAnnounced, ToolUpdated
from verdicts.contracts.subjects import INGEST_STREAM
from verdicts.platform.broker import durable_subscriber
from verdicts.platform.service import Runtime
from verdicts.platform.settings import PlatformSettings
from verdicts.votes import store


def register(router: NatsRouter, platform: PlatformSettings) -> None:
    @durable_subscriber(
        router, ToolAnnounced.SUBJECT, stream=INGEST_STREAM, durable="votes-announced", settings=platform
    )
    async def remember_announced_tool(event: ToolAnnounced, runtime: Runtime = Context("runtime")) -> None:
        async with runtime.pool.acquire() as conn:
            await store.remember_tool(conn, event.tool)

    @durable_subscriber(
        router, ToolUpdated.SUBJECT, stream=INGEST_STREAM, durable="votes-updated", settings=platform
    )
    async def remember_updated_tool(event: ToolUpdated, runtime: Runtime = Context("runtime")) -> None:
        async with runtime.pool.acquire() as conn:
            await store.remember_tool(conn, event.tool)
