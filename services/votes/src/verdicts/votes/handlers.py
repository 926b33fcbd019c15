"""votes' bus subscribers (thin): remember the tools ingest announces, newest version kept."""

from __future__ import annotations

from typing import Annotated, Protocol

import asyncpg
from faststream import Depends
from faststream.nats import NatsRouter

from verdicts.contracts import Tool, ToolAnnounced, ToolUpdated
from verdicts.contracts.subjects import INGEST_STREAM
from verdicts.platform.broker import durable_subscriber
from verdicts.platform.deps import own_pool
from verdicts.platform.settings import PlatformSettings
from verdicts.votes import store


class ToolMemory(Protocol):
    async def remember(self, tool: Tool, version: int) -> bool:
        """Keep ``tool`` at ``version`` unless a newer version is known; whether it was kept."""
        ...


class StoredToolMemory:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def remember(self, tool: Tool, version: int) -> bool:
        async with self.pool.acquire() as conn:
            return await store.remember_tool(conn, tool, version)


def tool_memory(pool: Annotated[asyncpg.Pool, own_pool(store.SCHEMA)]) -> ToolMemory:
    return StoredToolMemory(pool)


Tools = Annotated[ToolMemory, Depends(tool_memory, cast=False)]


def register(router: NatsRouter, platform: PlatformSettings) -> None:
    @durable_subscriber(
        router, ToolAnnounced.SUBJECT, stream=INGEST_STREAM, durable="votes-announced", settings=platform
    )
    async def remember_announced_tool(event: ToolAnnounced, tools: Tools) -> None:
        await tools.remember(event.tool, event.version)

    @durable_subscriber(
        router, ToolUpdated.SUBJECT, stream=INGEST_STREAM, durable="votes-updated", settings=platform
    )
    async def remember_updated_tool(event: ToolUpdated, tools: Tools) -> None:
        await tools.remember(event.tool, event.version)
