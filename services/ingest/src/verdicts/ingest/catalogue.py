"""Announcing tools: domain decisions and store writes in one transaction per tool.

A new slug is accepted (version 1, ``ToolAnnounced``); a known one is unchanged or gets the next
version (``ToolUpdated``), or is rejected when another vendor holds it. Events go through the
outbox in the same transaction as the write.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import asyncpg

from verdicts.contracts import Tool, ToolAnnounced, ToolUpdated
from verdicts.ingest import store
from verdicts.ingest.domain import (
    Outcome,
    Rejection,
    ToolSubmission,
    category_of,
    check_batch,
    content_hash,
    revise,
    submission_of,
    to_tool,
    untrusted_fields,
)


@dataclass(frozen=True, slots=True)
class Saved:
    """An announced tool: what happened, the record kept, its version, the fields not kept."""

    outcome: Outcome
    tool: Tool
    version: int
    ignored: list[str]

    @property
    def slug(self) -> str:
        return self.tool.slug


class CategoryCache:
    """The managed list changes by migration only: read it at most every ``ttl_s`` seconds."""

    def __init__(self, ttl_s: float = 30.0) -> None:
        self.ttl_s = ttl_s
        self._names: list[str] = []
        self._read_at = float("-inf")

    async def get(self, pool: asyncpg.Pool) -> list[str]:
        now = time.monotonic()
        if now - self._read_at > self.ttl_s:
            self._names = await store.categories(pool)
            self._read_at = now
        return self._names


class Catalogue:
    """Announces tools into ingest's tables; one per app (it caches the category list)."""

    def __init__(self, *, trust_model_family: bool, max_batch_items: int) -> None:
        self.trust_model_family = trust_model_family
        self.max_batch_items = max_batch_items
        self.categories = CategoryCache()

    async def announce(self, pool: asyncpg.Pool, submission: ToolSubmission) -> Saved:
        """Store one tool (or find it unchanged); raises ``Rejection`` when it will not be stored."""
        known = await self.categories.get(pool)
        return await self._save(pool, submission, known)

    async def announce_batch(self, pool: asyncpg.Pool, items: list[Any]) -> list[Saved | Rejection]:
        """Each item validated and stored on its own: one result per item, in order.

        A batch over the limit raises ``Rejection`` and nothing is stored.
        """
        check_batch(items, self.max_batch_items)
        known = await self.categories.get(pool)
        results: list[Saved | Rejection] = []
        for item in items:
            try:
                results.append(await self._save(pool, submission_of(item), known))
            except Rejection as rejection:
                results.append(rejection)
        return results

    async def _save(self, pool: asyncpg.Pool, submission: ToolSubmission, known: list[str]) -> Saved:
        trusted = self.trust_model_family
        tool = to_tool(submission, category=category_of(submission, known), trust_model_family=trusted)
        not_kept = untrusted_fields(submission, trust_model_family=trusted)
        digest = content_hash(tool)
        async with pool.acquire() as conn, conn.transaction():
            if await store.claim(conn, tool, digest):
                await store.record_event(
                    conn, ToolAnnounced.create(tool=tool, version=1, content_hash=digest)
                )
                return Saved(Outcome.ACCEPTED, tool, 1, not_kept)
            revision = revise(await store.current(conn, tool.slug), tool, digest)
            if revision.outcome is Outcome.UPDATED:
                await store.write_version(conn, tool, revision.version, digest)
                await store.record_event(
                    conn,
                    ToolUpdated.create(
                        tool=tool,
                        version=revision.version,
                        previous_version=revision.previous_version,
                        content_hash=digest,
                    ),
                )
            return Saved(revision.outcome, tool, revision.version, not_kept)
