"""Announcing tools: domain decisions and store writes, each tool's all or nothing.

Announcing is two steps so a caller can count what will be stored before anything is: ``draft``
checks a submission (the caller's vendor, the category) and makes it canonical; ``store`` writes
it. A new slug is accepted (version 1, ``ToolAnnounced``); a known one is unchanged or gets the
next version (``ToolUpdated``), or is rejected when another vendor's tool holds it. Events go
through the outbox in the same transaction as the write.

New slugs, the common case, are claimed set-based: one statement stores the rows, their first
versions and their outbox rows (for a batch, every new tool of it at once). Only a slug already
held takes the locking path: its row read ``FOR UPDATE``, then a new version or nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import asyncpg

from verdicts.contracts import Tool, ToolAnnounced, ToolUpdated
from verdicts.ingest import store
from verdicts.ingest.domain import (
    MayWrite,
    Outcome,
    Rejection,
    ToolSubmission,
    canonical_json,
    category_of,
    check_batch,
    check_own_vendor,
    check_own_vendors,
    hash_of,
    revise,
    submission_of,
    to_tool,
    untrusted_fields,
)
from verdicts.platform.db import Conn


@dataclass(frozen=True, slots=True)
class Draft:
    """A submission checked and made canonical, ready to store: the record (and as JSON), its
    content hash, the submitted fields not kept."""

    tool: Tool
    record: str
    digest: str
    ignored: list[str]

    def as_new(self) -> store.NewTool:
        """The draft as version 1 of a new tool, with its announcement."""
        event = ToolAnnounced.create(tool=self.tool, version=1, content_hash=self.digest)
        return store.NewTool(self.tool, self.record, self.digest, event)


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

    async def draft(self, pool: asyncpg.Pool, submission: ToolSubmission, may_write: MayWrite) -> Draft:
        """One submission ready to store; raises ``Rejection`` for another vendor's tool or an
        unknown category."""
        check_own_vendor(submission, may_write)
        return self._draft(submission, await self.categories.get(pool))

    async def draft_batch(
        self, pool: asyncpg.Pool, items: list[Any], may_write: MayWrite
    ) -> list[Draft | Rejection]:
        """Each item checked on its own: a draft or the item's rejection, in order.

        A batch over the limit, or one naming a vendor the caller may not write, raises
        ``Rejection``: it is refused whole.
        """
        check_batch(items, self.max_batch_items)
        submissions = [_submission_or_rejection(item) for item in items]
        check_own_vendors(submissions, may_write)
        known = await self.categories.get(pool)
        return [
            item if isinstance(item, Rejection) else self._draft_or_rejection(item, known)
            for item in submissions
        ]

    async def store(self, pool: asyncpg.Pool, draft: Draft, may_write: MayWrite) -> Saved:
        """Store one tool (or find it unchanged); raises ``Rejection`` when another vendor's tool
        holds its slug."""
        if await store.claim(pool, [draft.as_new()]):
            return Saved(Outcome.ACCEPTED, draft.tool, 1, draft.ignored)
        async with pool.acquire() as conn, conn.transaction():
            return await self._revise(conn, draft, may_write)

    async def store_batch(
        self, pool: asyncpg.Pool, drafts: list[Draft | Rejection], may_write: MayWrite
    ) -> list[Saved | Rejection]:
        """Every draft stored in one transaction; one result per item, in order.

        The first item of each slug is claimed set-based; the rest (slugs held already, or taken
        by an earlier item of the batch) are revised one by one in slug order, as if each came
        after the items before it. A rejected item stores nothing; the others are kept."""
        results: list[Saved | Rejection | None] = [d if isinstance(d, Rejection) else None for d in drafts]
        first: dict[str, int] = {}
        for index, draft in enumerate(drafts):
            if isinstance(draft, Draft):
                first.setdefault(draft.tool.slug, index)
        async with pool.acquire() as conn, conn.transaction():
            claimed = await store.claim(conn, [_draft(drafts[i]).as_new() for i in first.values()])
            for slug in claimed:
                draft = _draft(drafts[first[slug]])
                results[first[slug]] = Saved(Outcome.ACCEPTED, draft.tool, 1, draft.ignored)
            later = sorted(
                (i for i, r in enumerate(results) if r is None),
                key=lambda i: (_draft(drafts[i]).tool.slug, i),
            )
            for index in later:
                try:
                    results[index] = await self._revise(conn, _draft(drafts[index]), may_write)
                except Rejection as rejection:
                    results[index] = rejection
        return [_result(r) for r in results]

    async def _revise(self, conn: Conn, draft: Draft, may_write: MayWrite) -> Saved:
        """A held slug announced again, inside the caller's transaction: unchanged, a new version
        (``ToolUpdated``), or a ``Rejection`` (another vendor's tool holds it; nothing written)."""
        tool, digest = draft.tool, draft.digest
        revision = revise(await store.current(conn, tool.slug), tool, digest, may_write)
        if revision.outcome is Outcome.UPDATED:
            await store.write_version(conn, tool, draft.record, revision.version, digest)
            await store.record_event(
                conn,
                ToolUpdated.create(
                    tool=tool,
                    version=revision.version,
                    previous_version=revision.previous_version,
                    content_hash=digest,
                ),
            )
        return Saved(revision.outcome, tool, revision.version, draft.ignored)

    def _draft(self, submission: ToolSubmission, known: list[str]) -> Draft:
        trusted = self.trust_model_family
        tool = to_tool(submission, category=category_of(submission, known), trust_model_family=trusted)
        record = canonical_json(tool)
        return Draft(tool, record, hash_of(record), untrusted_fields(submission, trust_model_family=trusted))

    def _draft_or_rejection(self, submission: ToolSubmission, known: list[str]) -> Draft | Rejection:
        try:
            return self._draft(submission, known)
        except Rejection as rejection:
            return rejection


def _draft(item: Draft | Rejection) -> Draft:
    assert isinstance(item, Draft)
    return item


def _result(item: Saved | Rejection | None) -> Saved | Rejection:
    assert item is not None
    return item


def _submission_or_rejection(item: Any) -> ToolSubmission | Rejection:
    try:
        return submission_of(item)
    except Rejection as rejection:
        return rejection
