"""ingest's SQL: tools, their versions, the category list; events through the outbox."""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import asyncpg

from verdicts.contracts import Tool, ToolAnnounced, ToolUpdated
from verdicts.ingest.domain import content_hash, identity_key
from verdicts.platform.db import Conn
from verdicts.platform.outbox import enqueue

SCHEMA = "ingest"


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class Saved:
    outcome: Outcome
    tool: Tool
    version: int

    @property
    def slug(self) -> str:
        return self.tool.slug


class SlugTaken(Exception):
    """A different tool (another vendor) already holds this slug."""

    def __init__(self, slug: str, holder: str) -> None:
        super().__init__(f"slug {slug!r} already belongs to {holder!r}")
        self.slug = slug
        self.holder = holder


async def categories(conn: Conn | asyncpg.Pool) -> list[str]:
    rows = await conn.fetch(f"SELECT name FROM {SCHEMA}.categories ORDER BY name")
    return [r["name"] for r in rows]


class CategoryCache:
    """The managed list changes by migration only: read it at most every ``ttl_s`` seconds."""

    def __init__(self, ttl_s: float = 30.0) -> None:
        self.ttl_s = ttl_s
        self._names: list[str] = []
        self._read_at = float("-inf")

    async def get(self, pool: asyncpg.Pool) -> list[str]:
        now = time.monotonic()
        if now - self._read_at > self.ttl_s:
            self._names = await categories(pool)
            self._read_at = now
        return self._names


async def save_tool(conn: Conn, tool: Tool) -> Saved:
    """Store ``tool`` once per content; call inside a transaction (the event goes with it).

    A new slug is claimed by the INSERT itself: a concurrent identical submission
    waits on the unique index until the first commits, then finds it and is unchanged.
    """
    digest = content_hash(tool)
    record = tool.model_dump_json()
    created = await conn.fetchval(
        f"WITH tool AS (INSERT INTO {SCHEMA}.tools (slug, vendor_key, category_key, current_version, "
        "content_hash, record) VALUES ($1, $2, $3, 1, $4, $5::jsonb) "
        "ON CONFLICT (slug) DO NOTHING RETURNING slug), "
        f"version AS (INSERT INTO {SCHEMA}.tool_versions (slug, version, content_hash, record) "
        "SELECT slug, 1, $4, $5::jsonb FROM tool RETURNING slug) "
        "SELECT count(*) FROM version",
        tool.slug,
        identity_key(tool.vendor),
        identity_key(tool.category),
        digest,
        record,
    )
    if created:
        await enqueue(conn, SCHEMA, ToolAnnounced.create(tool=tool, version=1, content_hash=digest))
        return Saved(Outcome.ACCEPTED, tool, 1)
    row = await conn.fetchrow(
        f"SELECT vendor_key, current_version, content_hash, record->>'vendor' AS vendor "
        f"FROM {SCHEMA}.tools WHERE slug = $1 FOR UPDATE",
        tool.slug,
    )
    assert row is not None  # rows are never deleted
    if row["vendor_key"] != identity_key(tool.vendor):
        raise SlugTaken(tool.slug, row["vendor"])
    if row["content_hash"] == digest:
        return Saved(Outcome.UNCHANGED, tool, row["current_version"])
    version = row["current_version"] + 1
    await conn.execute(
        f"WITH tool AS (UPDATE {SCHEMA}.tools SET current_version = $2, content_hash = $3, "
        "record = $4::jsonb, category_key = $5, updated_at = now() WHERE slug = $1 RETURNING slug) "
        f"INSERT INTO {SCHEMA}.tool_versions (slug, version, content_hash, record) "
        "SELECT slug, $2, $3, $4::jsonb FROM tool",
        tool.slug,
        version,
        digest,
        record,
        identity_key(tool.category),
    )
    await enqueue(
        conn,
        SCHEMA,
        ToolUpdated.create(tool=tool, version=version, previous_version=version - 1, content_hash=digest),
    )
    return Saved(Outcome.UPDATED, tool, version)


def _view(row: asyncpg.Record) -> dict[str, Any]:
    tool: dict[str, Any] = json.loads(row["record"])
    tool["version"] = row["current_version"]
    tool["created_at"] = row["created_at"].isoformat()
    tool["updated_at"] = row["updated_at"].isoformat()
    return tool


async def get_tool(pool: asyncpg.Pool, slug: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(
        f"SELECT record, current_version, created_at, updated_at FROM {SCHEMA}.tools WHERE slug = $1",
        slug,
    )
    return None if row is None else _view(row)


class BadCursor(ValueError):
    pass


def encode_cursor(slug: str) -> str:
    return base64.urlsafe_b64encode(slug.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor(cursor) from None


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_tools(
    pool: asyncpg.Pool,
    *,
    limit: int,
    cursor: str | None = None,
    category: str | None = None,
    vendor: str | None = None,
    text: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Keyset pagination by slug; the cursor is opaque to callers."""
    after = decode_cursor(cursor) if cursor else ""
    rows = await pool.fetch(
        f"SELECT slug, record, current_version, created_at, updated_at FROM {SCHEMA}.tools "
        "WHERE slug > $1 "
        "AND ($2::text IS NULL OR category_key = $2) "
        "AND ($3::text IS NULL OR vendor_key = $3) "
        "AND ($4::text IS NULL OR record->>'name' ILIKE $4 OR record->>'tagline' ILIKE $4 "
        "     OR record->>'description' ILIKE $4) "
        "ORDER BY slug LIMIT $5",
        after,
        identity_key(category) if category else None,
        identity_key(vendor) if vendor else None,
        _like(text) if text else None,
        limit + 1,
    )
    items = [_view(r) for r in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1]["slug"]) if len(rows) > limit else None
    return items, next_cursor
