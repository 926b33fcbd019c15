"""votes' SQL: known tools, ballots and head-to-head ballots applied exactly once in batches, tallies,
discards, rankings."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from verdicts.contracts import Interval, RankedItem, RankingUpdated, TallyUpdated, Tool
from verdicts.platform.db import Conn
from verdicts.platform.outbox import enqueue
from verdicts.platform.telemetry import span_from
from verdicts.votes.domain.ranking import Comparison, RankedTool
from verdicts.votes.domain.tally import Tally

SCHEMA = "votes"
_WRITER_LOCK = "votes:ballot-writer"


@dataclass(frozen=True, slots=True)
class Ballot:
    seq: int  # the JetStream stream sequence: orders a voter's ballots, makes a redelivery a no-op
    tool: str
    voter: str
    choice: str


@dataclass(frozen=True, slots=True)
class Discard:
    tool: str | None
    voter: str | None
    reason: str
    detail: str | None = None


async def remember_tool(conn: Conn, tool: Tool, version: int) -> bool:
    """Keep the newest version of the tool's facts; ``False`` for an older one arriving late."""
    kept = await conn.fetchval(
        f"INSERT INTO {SCHEMA}.tools AS t (slug, name, category, version) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (slug) DO UPDATE SET name = excluded.name, category = excluded.category, "
        "version = excluded.version WHERE t.version <= excluded.version RETURNING 1",
        tool.slug,
        tool.name,
        tool.category,
        version,
    )
    return kept is not None


async def tool_category(pool: asyncpg.Pool, slug: str) -> str | None:
    """The category of a tool votes has heard of (``None`` for an unknown tool)."""
    value = await pool.fetchval(f"SELECT category FROM {SCHEMA}.tools WHERE slug = $1", slug)
    return str(value) if value is not None else None


async def apply_ballots(conn: Conn, ballots: Sequence[Ballot], traceparent: str | None = None) -> int:
    """Write a batch in one statement: one ballot per voter per tool (the latest by stream sequence),
    tallies moved by exactly the change (and stamped with the batch's ``traceparent``). Returns how
    many ballots changed something."""
    # One writer at a time: the deltas below read the ballots as they were before this statement.
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", _WRITER_LOCK)
    changed = await conn.fetchval(
        f"""
        WITH incoming AS (
            SELECT DISTINCT ON (tool, voter) seq, tool, voter, choice
            FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS t(seq, tool, voter, choice)
            ORDER BY tool, voter, seq DESC
        ), previous AS (
            SELECT b.tool, b.voter, b.choice FROM {SCHEMA}.ballots b JOIN incoming i USING (tool, voter)
        ), written AS (
            INSERT INTO {SCHEMA}.ballots AS b (tool, voter, choice, seq)
            SELECT tool, voter, choice, seq FROM incoming
            ON CONFLICT (tool, voter) DO UPDATE
                SET choice = excluded.choice, seq = excluded.seq, cast_at = now()
                WHERE b.seq < excluded.seq
            RETURNING b.tool, b.voter, b.choice
        ), delta AS (
            SELECT w.tool,
                   sum((w.choice = 'ship')::int - coalesce((p.choice = 'ship')::int, 0)) AS ship,
                   sum((w.choice = 'skip')::int - coalesce((p.choice = 'skip')::int, 0)) AS skip,
                   count(*) AS written
            FROM written w LEFT JOIN previous p USING (tool, voter)
            GROUP BY w.tool
        ), moved AS (  -- not INSERT .. ON CONFLICT: its proposed row (a negative delta) fails the CHECK
            UPDATE {SCHEMA}.tallies t
            SET ship = t.ship + d.ship, skip = t.skip + d.skip,
                changed_at = now(), change_seq = t.change_seq + 1, traceparent = $5
            FROM delta d WHERE t.tool = d.tool
            RETURNING t.tool
        ), started AS (
            INSERT INTO {SCHEMA}.tallies (tool, ship, skip, traceparent)
            SELECT tool, ship, skip, $5 FROM delta WHERE tool NOT IN (SELECT tool FROM moved)
        )
        SELECT coalesce(sum(written), 0) FROM delta
        """,
        [b.seq for b in ballots],
        [b.tool for b in ballots],
        [b.voter for b in ballots],
        [b.choice for b in ballots],
        traceparent,
    )
    return int(changed)


async def publish_changed_tallies(conn: Conn, spacing_s: float) -> int:
    """One `votes.tally.updated` per tool changed since its last event (through the outbox), and
    none for a tool whose last event is younger than ``spacing_s``: a storm is coalesced."""
    rows = await conn.fetch(
        f"UPDATE {SCHEMA}.tallies SET published_seq = change_seq, published_at = now() "
        "WHERE change_seq > published_seq "
        "AND (published_at IS NULL OR published_at <= now() - make_interval(secs => $1)) "
        "RETURNING tool, ship, skip, traceparent",
        spacing_s,
    )
    for row in rows:
        tally = Tally(row["ship"], row["skip"])
        low, high = tally.interval
        # The event joins the trace of the ballot batch that last moved the tally.
        with span_from(f"{TallyUpdated.SUBJECT} create", [row["traceparent"]], child_of_first=True):
            await enqueue(
                conn,
                SCHEMA,
                TallyUpdated.create(
                    tool_slug=row["tool"],
                    ship=tally.ship,
                    skip=tally.skip,
                    community_ship_pct=tally.community_ship_pct,
                    interval=Interval(low=low, high=high),
                    provisional=tally.provisional,
                ),
            )
    return len(rows)


async def record_discards(conn: Conn, discards: Sequence[Discard]) -> None:
    await conn.execute(
        f"INSERT INTO {SCHEMA}.discarded (tool, voter, reason, detail) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])",
        [d.tool for d in discards],
        [d.voter for d in discards],
        [d.reason for d in discards],
        [d.detail for d in discards],
    )
    await conn.execute(
        f"INSERT INTO {SCHEMA}.integrity (tool, reason, count) "
        "SELECT coalesce(tool, ''), reason, count(*) FROM unnest($1::text[], $2::text[]) AS d(tool, reason) "
        "GROUP BY 1, 2 ON CONFLICT (tool, reason) DO UPDATE SET count = integrity.count + excluded.count",
        [d.tool for d in discards],
        [d.reason for d in discards],
    )


async def spend_challenge(pool: asyncpg.Pool, challenge: str, expires_at: datetime) -> bool:
    """Mark a proof-of-work challenge spent; ``False`` when it was spent before (a replay)."""
    spent = await pool.fetchval(
        f"INSERT INTO {SCHEMA}.altcha_spent (challenge, expires_at) VALUES ($1, $2) "
        "ON CONFLICT (challenge) DO NOTHING RETURNING 1",
        challenge,
        expires_at,
    )
    return spent is not None


async def prune_spent_challenges(pool: asyncpg.Pool, grace_s: float) -> int:
    """Forget spent challenges that expired more than ``grace_s`` ago (the grace covers clock skew)."""
    done = await pool.execute(
        f"DELETE FROM {SCHEMA}.altcha_spent WHERE expires_at < now() - make_interval(secs => $1)",
        grace_s,
    )
    return int(done.split()[-1])


async def tool_votes(pool: asyncpg.Pool, slug: str) -> tuple[Tally, dict[str, int]] | None:
    """The tally and the integrity counts of a known tool."""
    async with pool.acquire() as conn:
        if await conn.fetchval(f"SELECT 1 FROM {SCHEMA}.tools WHERE slug = $1", slug) is None:
            return None
        row = await conn.fetchrow(f"SELECT ship, skip FROM {SCHEMA}.tallies WHERE tool = $1", slug)
        discards = await conn.fetch(f"SELECT reason, count FROM {SCHEMA}.integrity WHERE tool = $1", slug)
    tally = Tally(row["ship"], row["skip"]) if row else Tally(0, 0)
    return tally, {r["reason"]: r["count"] for r in discards}


@dataclass(frozen=True, slots=True)
class HeadToHead:
    seq: int  # the JetStream stream sequence: orders a voter's ballots on a pair
    a: str  # canonical order: a < b
    b: str
    voter: str
    winner: str


async def apply_head_to_head(conn: Conn, ballots: Sequence[HeadToHead]) -> int:
    """Write a batch in one statement: one ballot per voter per pair, the latest by stream sequence
    (a redelivered or older ballot changes nothing). Returns how many ballots changed something."""
    written = await conn.fetchval(
        f"""
        WITH incoming AS (
            SELECT DISTINCT ON (a, b, voter) seq, a, b, voter, winner
            FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])
                AS t(seq, a, b, voter, winner)
            ORDER BY a, b, voter, seq DESC
        ), written AS (
            INSERT INTO {SCHEMA}.head_to_head AS h (a, b, voter, winner, seq)
            SELECT a, b, voter, winner, seq FROM incoming
            ON CONFLICT (a, b, voter) DO UPDATE
                SET winner = excluded.winner, seq = excluded.seq, cast_at = now()
                WHERE h.seq < excluded.seq
            RETURNING 1
        )
        SELECT count(*) FROM written
        """,
        [h.seq for h in ballots],
        [h.a for h in ballots],
        [h.b for h in ballots],
        [h.voter for h in ballots],
        [h.winner for h in ballots],
    )
    return int(written)


async def comparisons_by_category(pool: asyncpg.Pool) -> dict[str, list[Comparison]]:
    """Head-to-head votes between tools of the same category."""
    rows = await pool.fetch(
        f"SELECT ta.category, h.a, h.b, h.winner FROM {SCHEMA}.head_to_head h "
        f"JOIN {SCHEMA}.tools ta ON ta.slug = h.a JOIN {SCHEMA}.tools tb ON tb.slug = h.b "
        "WHERE ta.category = tb.category"
    )
    by_category: dict[str, list[Comparison]] = {}
    for r in rows:
        by_category.setdefault(r["category"], []).append(Comparison(r["a"], r["b"], r["winner"]))
    return by_category


def ranking_items(items: Sequence[RankedTool]) -> list[dict[str, Any]]:
    return [
        {
            "rank": i.rank,
            "slug": i.slug,
            "score": round(i.score, 1),
            "interval": {"low": round(i.low, 1), "high": round(i.high, 1)},
            "comparisons": i.comparisons,
        }
        for i in items
    ]


async def save_ranking(
    conn: Conn, category: str, comparisons: int, items: Sequence[RankedTool], provisional: bool
) -> bool:
    """Keep the category's ranking; when it changed (or is new), a `votes.ranking.updated` goes
    into the outbox in the same transaction. Returns whether it changed."""
    body = ranking_items(items)
    changed = await conn.fetchrow(
        f"INSERT INTO {SCHEMA}.rankings AS r (category, computed_at, comparisons, items, provisional) "
        "VALUES ($1, now(), $2, $3::jsonb, $4) ON CONFLICT (category) DO UPDATE "
        "SET computed_at = excluded.computed_at, comparisons = excluded.comparisons, "
        "items = excluded.items, provisional = excluded.provisional "
        "WHERE (r.comparisons, r.items, r.provisional) IS DISTINCT FROM "
        "(excluded.comparisons, excluded.items, excluded.provisional) "
        "RETURNING r.computed_at",
        category,
        comparisons,
        json.dumps(body),
        provisional,
    )
    if changed is None:
        return False
    event = RankingUpdated.create(
        category=category,
        computed_at=changed["computed_at"],
        comparisons=comparisons,
        provisional=provisional,
        items=[
            RankedItem(
                slug=i.slug, score=i.score, low=i.low, high=i.high, rank=i.rank, comparisons=i.comparisons
            )
            for i in items
        ],
    )
    await enqueue(conn, SCHEMA, event)
    return True


async def ranking(pool: asyncpg.Pool, category: str) -> tuple[datetime | None, int, bool, list[Any]] | None:
    """The latest ranking of a category: when, over how many comparisons, whether provisional, the
    tools (``None`` for a category no known tool is in)."""
    row = await pool.fetchrow(f"SELECT * FROM {SCHEMA}.rankings WHERE category = $1", category)
    if row is not None:
        return row["computed_at"], row["comparisons"], row["provisional"], json.loads(row["items"])
    if await pool.fetchval(f"SELECT 1 FROM {SCHEMA}.tools WHERE category = $1 LIMIT 1", category) is None:
        return None
    return None, 0, True, []
