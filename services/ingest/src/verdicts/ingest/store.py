"""ingest's SQL: tools, their versions, the category list; events into the outbox. No decisions:
``catalogue`` decides (with ``domain``) and calls these inside its transaction."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from verdicts.contracts import Event, Tool
from verdicts.ingest.domain import Current, identity_key
from verdicts.platform.db import Conn
from verdicts.platform.outbox import channel, enqueue, event_headers
from verdicts.platform.telemetry import current_trace_headers

SCHEMA = "ingest"


async def categories(conn: Conn | asyncpg.Pool) -> list[str]:
    """The managed category names, sorted."""
    rows = await conn.fetch(f"SELECT name FROM {SCHEMA}.categories ORDER BY name")
    return [r["name"] for r in rows]


@dataclass(frozen=True, slots=True)
class NewTool:
    """A tool to store as version 1 with its ``ToolAnnounced``, should its slug be free: the record
    (JSON) and its content hash, and the event for the outbox."""

    tool: Tool
    record: str
    digest: str
    event: Event


def _outbox_row(event: Event) -> tuple[str, str, bytes, str]:
    """``event`` as the outbox's columns, as ``verdicts.platform.outbox.enqueue`` writes them."""
    headers = {**current_trace_headers(), **event_headers(event)}
    return event.event_id, event.SUBJECT, event.model_dump_json().encode(), json.dumps(headers)


# The rows claimed (slug free), their first versions and their outbox rows, in one statement: it
# is atomic without a transaction around it, and the INSERT itself claims each slug (a concurrent
# claim of the same slug waits on the unique index until the first commits, then finds it taken).
# The NOTIFY wakes the outbox relay once the statement commits.
_CLAIM = (
    "WITH item AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
    "$6::text[], $7::text[], $8::bytea[], $9::text[]) WITH ORDINALITY "
    "AS i (slug, vendor_key, category_key, content_hash, record, event_id, subject, payload, headers, n)), "
    f"tool AS (INSERT INTO {SCHEMA}.tools (slug, vendor_key, category_key, current_version, "
    "content_hash, record) SELECT slug, vendor_key, category_key, 1, content_hash, record::jsonb "
    # Slug order: concurrent batches take their slugs' locks in one order, so never deadlock.
    "FROM item ORDER BY slug ON CONFLICT (slug) DO NOTHING RETURNING slug), "
    f"version AS (INSERT INTO {SCHEMA}.tool_versions (slug, version, content_hash, record) "
    "SELECT slug, 1, content_hash, record::jsonb FROM item JOIN tool USING (slug)), "
    f"event AS (INSERT INTO {SCHEMA}.outbox (event_id, subject, payload, headers) "
    "SELECT event_id, subject, payload, headers::jsonb FROM item JOIN tool USING (slug) ORDER BY n "
    "RETURNING 1) "
    "SELECT slug, (SELECT pg_notify($10, '') FROM (SELECT 1 FROM event LIMIT 1) AS any_event) "
    "FROM tool"
)


async def claim(conn: Conn | asyncpg.Pool, new: Sequence[NewTool]) -> set[str]:
    """Store each of ``new`` (slugs distinct) as version 1 and its event into the outbox where its
    slug is free; returns the slugs so claimed (the others are held already)."""
    if not new:
        return set()
    outbox = [_outbox_row(n.event) for n in new]
    rows = await conn.fetch(
        _CLAIM,
        [n.tool.slug for n in new],
        [identity_key(n.tool.vendor) for n in new],
        [identity_key(n.tool.category) for n in new],
        [n.digest for n in new],
        [n.record for n in new],
        *(list(column) for column in zip(*outbox, strict=True)),
        channel(SCHEMA),
    )
    return {r["slug"] for r in rows}


async def current(conn: Conn, slug: str) -> Current:
    """The tool holding ``slug``, locked until the transaction ends (rows are never deleted)."""
    row = await conn.fetchrow(
        f"SELECT vendor_key, current_version, content_hash, record->>'vendor' AS vendor "
        f"FROM {SCHEMA}.tools WHERE slug = $1 FOR UPDATE",
        slug,
    )
    assert row is not None  # only called for a slug ``claim`` found taken
    return Current(
        vendor=row["vendor"],
        vendor_key=row["vendor_key"],
        version=row["current_version"],
        content_hash=row["content_hash"],
    )


async def write_version(conn: Conn, tool: Tool, record: str, version: int, digest: str) -> None:
    """Make ``tool`` the slug's current record as ``version``, keeping every version."""
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


async def record_event(conn: Conn, event: Event) -> None:
    """The event into the outbox, published by the relay once the transaction commits."""
    await enqueue(conn, SCHEMA, event)


def _view(row: asyncpg.Record) -> dict[str, Any]:
    tool: dict[str, Any] = json.loads(row["record"])
    tool["version"] = row["current_version"]
    tool["created_at"] = row["created_at"].isoformat()
    tool["updated_at"] = row["updated_at"].isoformat()
    return tool


async def get_tool(pool: asyncpg.Pool, slug: str) -> dict[str, Any] | None:
    """The current record of ``slug`` with its version and times; None when unknown."""
    row = await pool.fetchrow(
        f"SELECT record, current_version, created_at, updated_at FROM {SCHEMA}.tools WHERE slug = $1",
        slug,
    )
    return None if row is None else _view(row)


class BadCursor(ValueError):
    """A cursor this API did not issue."""


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
