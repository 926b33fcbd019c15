"""render's SQL, no decisions: the read model written from events (held when they arrive before
their tool) and read into views; the queue of pages to re-render and the record of what was
published. Migrations are in migrations/ beside this module."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from verdicts.contracts import PanelVerdictUpdated, RankingUpdated, ReviewCompleted, TallyUpdated, Tool
from verdicts.platform.db import Conn
from verdicts.platform.telemetry import current_traceparent
from verdicts.render.domain import (
    Community,
    Panel,
    RankedView,
    RankingView,
    ReviewView,
    ToolView,
    review_view,
)

SCHEMA = "render"


async def apply_tool(conn: Conn, tool: Tool, version: int) -> bool:
    """Keep the newest version of the record; ``False`` for an older one arriving late."""
    applied = await conn.fetchval(
        f"INSERT INTO {SCHEMA}.tools AS t (slug, version, record, category) VALUES ($1, $2, $3::jsonb, $4) "
        "ON CONFLICT (slug) DO UPDATE SET version = excluded.version, record = excluded.record, "
        "category = excluded.category, updated_at = now() WHERE t.version <= excluded.version RETURNING 1",
        tool.slug,
        version,
        tool.model_dump_json(),
        tool.category,
    )
    return applied is not None


async def lock_tool(conn: Conn, slug: str) -> None:
    """Serialise a tool's events: a held event must not slip past the tool's arrival."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"render:tool:{slug}")


async def known(conn: Conn, slug: str) -> bool:
    return await conn.fetchval(f"SELECT 1 FROM {SCHEMA}.tools WHERE slug = $1", slug) is not None


async def known_among(conn: Conn, candidates: Iterable[str]) -> set[str]:
    """Which of ``candidates`` are known tools."""
    rows = await conn.fetch(f"SELECT slug FROM {SCHEMA}.tools WHERE slug = ANY($1::text[])", list(candidates))
    return {r["slug"] for r in rows}


async def hold(conn: Conn, slug: str, subject: str, payload: str) -> None:
    await conn.execute(
        f"INSERT INTO {SCHEMA}.held (slug, subject, payload) VALUES ($1, $2, $3::jsonb)",
        slug,
        subject,
        payload,
    )


async def take_held(conn: Conn, slug: str) -> list[tuple[str, str]]:
    rows = await conn.fetch(
        f"DELETE FROM {SCHEMA}.held WHERE slug = $1 RETURNING id, subject, payload::text", slug
    )
    return [(r["subject"], r["payload"]) for r in sorted(rows, key=lambda r: r["id"])]


async def apply_review(conn: Conn, event: ReviewCompleted) -> None:
    body = event.model_dump(mode="json", include={"persona", "persona_name", "persona_order", "status"})
    body |= event.model_dump(mode="json", include={"verdict", "review", "key_points"})
    body |= event.model_dump(mode="json", include={"confidence", "failure_reason", "provenance"})
    body |= event.model_dump(mode="json", include={"route_note", "withheld_fields"})
    await conn.execute(
        f"INSERT INTO {SCHEMA}.reviews (slug, version, run, persona, body) "
        "VALUES ($1, $2, $3, $4, $5::jsonb) "
        "ON CONFLICT (slug, version, run, persona) DO UPDATE SET body = excluded.body",
        event.tool_slug,
        event.tool_version,
        event.panel_run,
        event.persona,
        json.dumps(body),
    )


async def apply_panel(conn: Conn, event: PanelVerdictUpdated) -> None:
    await conn.execute(
        f"INSERT INTO {SCHEMA}.panels (slug, version, run, ship, skip, failed, ship_pct, partial) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (slug, version, run) DO UPDATE SET "
        "ship = excluded.ship, skip = excluded.skip, failed = excluded.failed, ship_pct = excluded.ship_pct, "
        "partial = excluded.partial",
        event.tool_slug,
        event.tool_version,
        event.panel_run,
        event.ship,
        event.skip,
        event.failed,
        event.ship_pct,
        event.partial,
    )


async def apply_tally(conn: Conn, event: TallyUpdated) -> None:
    """Tallies can overtake each other on the bus: the newest by occurrence wins."""
    interval = event.interval
    await conn.execute(
        f"INSERT INTO {SCHEMA}.tallies AS t "
        "(slug, ship, skip, ship_pct, low, high, provisional, occurred_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (slug) DO UPDATE SET ship = excluded.ship, "
        "skip = excluded.skip, ship_pct = excluded.ship_pct, low = excluded.low, high = excluded.high, "
        "provisional = excluded.provisional, occurred_at = excluded.occurred_at "
        "WHERE t.occurred_at <= excluded.occurred_at",
        event.tool_slug,
        event.ship,
        event.skip,
        event.community_ship_pct,
        interval.low if interval else None,
        interval.high if interval else None,
        event.provisional,
        event.occurred_at,
    )


async def add_pairs(conn: Conn, pairs: Iterable[tuple[str, str]], reason: str) -> list[tuple[str, str]]:
    """Of ``pairs`` (canonical order, see ``domain.canonical_pairs``), those newly kept current."""
    added = []
    for a, b in pairs:
        if await conn.fetchval(
            f"INSERT INTO {SCHEMA}.pairs (a, b, reason) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING RETURNING 1",
            a,
            b,
            reason,
        ):
            added.append((a, b))
    return added


async def kept(conn: Conn, a: str, b: str) -> bool:
    """Whether the comparison (canonical order) is kept current."""
    found = await conn.fetchval(f"SELECT 1 FROM {SCHEMA}.pairs WHERE a = $1 AND b = $2", a, b)
    return found is not None


async def lock_categories(conn: Conn, categories: Iterable[str]) -> None:
    """Serialise requests for pairs in these categories (in one order: no deadlock)."""
    for category in sorted(set(categories)):
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"render:pairs:{category}")


async def requested_in(conn: Conn, category: str) -> int:
    """Requested pairs kept current with a tool in the category."""
    count = await conn.fetchval(
        f"SELECT count(*) FROM {SCHEMA}.pairs p WHERE p.reason = 'requested' AND EXISTS ("
        f"SELECT 1 FROM {SCHEMA}.tools t WHERE t.slug IN (p.a, p.b) AND t.category = $1)",
        category,
    )
    return int(count)


async def add_requested(conn: Conn, a: str, b: str, requested_by: str) -> bool:
    """Keep a requested pair (canonical order) current; ``False`` when it already was."""
    added = await conn.fetchval(
        f"INSERT INTO {SCHEMA}.pairs (a, b, reason, requested_by) VALUES ($1, $2, 'requested', $3) "
        "ON CONFLICT DO NOTHING RETURNING 1",
        a,
        b,
        requested_by,
    )
    return added is not None


MAX_TRACES_PER_PAGE = 8


async def mark_dirty(conn: Conn, pages: Iterable[str]) -> None:
    """Queue ``pages`` for rendering, remembering the trace that asked (up to a few per page)."""
    traceparent = current_traceparent()
    await conn.execute(
        f"INSERT INTO {SCHEMA}.dirty AS d (page, traceparents) SELECT unnest($1::text[]), $2::text[] "
        "ON CONFLICT (page) DO UPDATE SET traceparents = d.traceparents || excluded.traceparents "
        "WHERE NOT d.traceparents @> excluded.traceparents AND cardinality(d.traceparents) < $3",
        sorted(set(pages)),
        [traceparent] if traceparent else [],
        MAX_TRACES_PER_PAGE,
    )


@dataclass(frozen=True, slots=True)
class DirtyPage:
    page: str
    traceparents: list[str]


async def take_dirty(conn: Conn, spacing_s: float, limit: int = 200) -> list[DirtyPage]:
    """Queued pages whose last render is at least ``spacing_s`` old; marks them rendered now."""
    rows = await conn.fetch(
        f"""
        WITH due AS (
            SELECT d.page FROM {SCHEMA}.dirty d LEFT JOIN {SCHEMA}.rendered r USING (page)
            WHERE r.at IS NULL OR r.at <= now() - make_interval(secs => $2)
            ORDER BY d.since LIMIT $1 FOR UPDATE OF d SKIP LOCKED
        ), taken AS (
            DELETE FROM {SCHEMA}.dirty WHERE page IN (SELECT page FROM due) RETURNING page, traceparents
        ), stamped AS (
            INSERT INTO {SCHEMA}.rendered (page, at) SELECT page, now() FROM taken
            ON CONFLICT (page) DO UPDATE SET at = excluded.at
        )
        SELECT page, traceparents FROM taken
        """,
        limit,
        spacing_s,
    )
    return [DirtyPage(r["page"], list(r["traceparents"])) for r in rows]


async def tool_placement(conn: Conn, slug: str) -> tuple[str, datetime] | None:
    """The tool's category and when it was announced (``None`` for a tool not known)."""
    row = await conn.fetchrow(f"SELECT category, announced_at FROM {SCHEMA}.tools WHERE slug = $1", slug)
    return None if row is None else (row["category"], row["announced_at"])


async def pairs_of(conn: Conn, slug: str) -> list[tuple[str, str]]:
    """The comparisons kept current that include the tool (canonical order)."""
    rows = await conn.fetch(f"SELECT a, b FROM {SCHEMA}.pairs WHERE a = $1 OR b = $1 ORDER BY a, b", slug)
    return [(r["a"], r["b"]) for r in rows]


async def pairs_of_each(conn: Conn, slugs: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """``pairs_of`` for each of ``slugs``, in one query."""
    wanted = sorted(set(slugs))
    found: dict[str, list[tuple[str, str]]] = {s: [] for s in wanted}
    if wanted:
        for r in await conn.fetch(
            f"SELECT a, b FROM {SCHEMA}.pairs WHERE a = ANY($1::text[]) OR b = ANY($1::text[]) ORDER BY a, b",
            wanted,
        ):
            for slug in {r["a"], r["b"]}:
                if slug in found:
                    found[slug].append((r["a"], r["b"]))
    return found


async def record_page(conn: Conn, path: str, kind: str, etag: str, size: int) -> None:
    await record_pages(conn, [(path, kind, etag, size)])


async def record_pages(conn: Conn, pages: Iterable[tuple[str, str, str, int]]) -> None:
    """Record published files (path, kind, etag, bytes) in one statement; a path given twice
    keeps its last."""
    latest = {p[0]: p for p in pages}
    if not latest:
        return
    paths, kinds, etags, sizes = (list(c) for c in zip(*latest.values(), strict=True))
    await conn.execute(
        f"INSERT INTO {SCHEMA}.pages (path, kind, etag, bytes, published_at) "
        "SELECT p, k, e, b, now() "
        "FROM unnest($1::text[], $2::text[], $3::text[], $4::int[]) AS u(p, k, e, b) "
        "ON CONFLICT (path) DO UPDATE SET etag = excluded.etag, bytes = excluded.bytes, "
        "published_at = excluded.published_at",
        paths,
        kinds,
        etags,
        sizes,
    )


async def tool_view(conn: Conn, slug: str) -> ToolView | None:
    return (await tool_views(conn, [slug])).get(slug)


async def tool_views(
    conn: Conn, slugs: Iterable[str], seen: Mapping[str, ToolView] | None = None
) -> dict[str, ToolView]:
    """The views of the known tools among ``slugs``: four queries whatever their number (the
    reviews of each tool's latest version and run, its latest panel verdict, its tally). Each
    view's ``revision`` is a digest of every value it was made of, in order; a view in ``seen``
    of the revision read is returned as it is (the values read are the same: not parsed again)."""
    wanted = sorted(set(slugs))
    if not wanted:
        return {}
    rows = await conn.fetch(
        f"SELECT slug, record, version, announced_at FROM {SCHEMA}.tools WHERE slug = ANY($1::text[])",
        wanted,
    )
    if not rows:
        return {}
    known = [r["slug"] for r in rows]
    review_rows: dict[str, list[Any]] = {s: [] for s in known}
    for r in await conn.fetch(
        f"SELECT r.slug, r.body, r.received_at FROM {SCHEMA}.reviews r JOIN ("
        f"SELECT DISTINCT ON (slug) slug, version, run FROM {SCHEMA}.reviews WHERE slug = ANY($1::text[]) "
        "ORDER BY slug, version DESC, run DESC) latest USING (slug, version, run) "
        "ORDER BY r.slug, r.received_at, r.persona",
        known,
    ):
        review_rows[r["slug"]].append((r["body"], r["received_at"]))
    panels = {
        r["slug"]: Panel(
            r["version"], r["run"], r["ship"], r["skip"], r["failed"], r["ship_pct"], r["partial"]
        )
        for r in await conn.fetch(
            f"SELECT DISTINCT ON (slug) * FROM {SCHEMA}.panels WHERE slug = ANY($1::text[]) "
            "ORDER BY slug, version DESC, run DESC",
            known,
        )
    }
    communities = {
        r["slug"]: Community(r["ship"], r["skip"], r["ship_pct"], r["low"], r["high"], r["provisional"])
        for r in await conn.fetch(f"SELECT * FROM {SCHEMA}.tallies WHERE slug = ANY($1::text[])", known)
    }
    views = {}
    for r in rows:
        slug = r["slug"]
        panel, community = panels.get(slug), communities.get(slug)
        values = [r["record"], r["version"], r["announced_at"], *review_rows[slug], panel, community]
        revision = _digest(values)
        if seen is not None and (view := seen.get(slug)) is not None and view.revision == revision:
            views[slug] = view
            continue
        reviews: dict[str, ReviewView] = {}
        for body_text, received_at in review_rows[slug]:
            body = json.loads(body_text)
            reviews[body["persona"]] = review_view(body, received_at)
        views[slug] = ToolView(
            Tool.model_validate_json(r["record"]),
            r["version"],
            r["announced_at"],
            panel,
            community,
            reviews,
            revision=revision,
        )
    return views


def _digest(values: list[Any]) -> str:
    """A digest of values read (text, numbers, moments, views of them): their exact ``repr``."""
    return hashlib.sha256(repr(values).encode()).hexdigest()[:32]  # SHA-256: hardware-assisted, ~2x BLAKE2b


async def slugs(conn: Conn, *, category: str | None = None) -> list[str]:
    if category is None:
        return [r["slug"] for r in await conn.fetch(f"SELECT slug FROM {SCHEMA}.tools ORDER BY slug")]
    rows = await conn.fetch(f"SELECT slug FROM {SCHEMA}.tools WHERE category = $1 ORDER BY slug", category)
    return [r["slug"] for r in rows]


async def categories(conn: Conn) -> list[tuple[str, int]]:
    rows = await conn.fetch(f"SELECT category, count(*) FROM {SCHEMA}.tools GROUP BY 1 ORDER BY 1")
    return [(r["category"], r["count"]) for r in rows]


async def latest_slugs(conn: Conn, limit: int) -> list[str]:
    """Tools by their latest panel verdict, newest first."""
    rows = await conn.fetch(
        f"SELECT slug, max(received_at) AS at FROM {SCHEMA}.panels GROUP BY slug ORDER BY at DESC LIMIT $1",
        limit,
    )
    return [r["slug"] for r in rows]


async def panel_progress(conn: Conn) -> tuple[int, int]:
    """How many tools have a panel verdict for their current version, of how many are known."""
    row: Any = await conn.fetchrow(
        f"SELECT count(*) AS total, count(*) FILTER (WHERE EXISTS ("
        f"SELECT 1 FROM {SCHEMA}.panels p WHERE p.slug = t.slug AND p.version = t.version)) AS complete "
        f"FROM {SCHEMA}.tools t"
    )
    return int(row["complete"]), int(row["total"])


async def latest_pairs(conn: Conn, limit: int) -> list[tuple[str, str]]:
    """Kept comparisons whose tools both have a verdict, the most recently judged first."""
    rows = await conn.fetch(
        f"SELECT c.a, c.b, greatest(pa.at, pb.at) AS at FROM {SCHEMA}.pairs c "
        f"JOIN (SELECT slug, max(received_at) AS at FROM {SCHEMA}.panels GROUP BY slug) pa ON pa.slug = c.a "
        f"JOIN (SELECT slug, max(received_at) AS at FROM {SCHEMA}.panels GROUP BY slug) pb ON pb.slug = c.b "
        f"ORDER BY at DESC, c.a, c.b LIMIT $1",
        limit,
    )
    return [(r["a"], r["b"]) for r in rows]


# Panel verdicts that crossed 50% against the tool's previous panel (any version or run).
FLIPS = f"""
    SELECT slug, ship_pct, previous_pct, received_at FROM (
        SELECT slug, ship_pct, received_at,
               lag(ship_pct) OVER (PARTITION BY slug ORDER BY version, run) AS previous_pct
        FROM {SCHEMA}.panels
    ) p
    WHERE previous_pct IS NOT NULL AND ship_pct IS NOT NULL AND (ship_pct >= 50) <> (previous_pct >= 50)
"""


async def week_of(conn: Conn, start: datetime, end: datetime) -> tuple[list[str], list[dict[str, Any]]]:
    """The tools announced in [start, end), and the verdicts that flipped ship/skip in it."""
    announced = await conn.fetch(
        f"SELECT slug FROM {SCHEMA}.tools WHERE announced_at >= $1 AND announced_at < $2 "
        "ORDER BY announced_at",
        start,
        end,
    )
    flips = await conn.fetch(
        f"SELECT * FROM ({FLIPS}) f WHERE received_at >= $1 AND received_at < $2 ORDER BY received_at",
        start,
        end,
    )
    return [r["slug"] for r in announced], [dict(r) for r in flips]


async def issue_times(conn: Conn) -> list[datetime]:
    """When tools were announced and verdicts flipped: the weekly issues are the weeks of these."""
    rows = await conn.fetch(
        f"SELECT announced_at AS at FROM {SCHEMA}.tools UNION SELECT received_at FROM ({FLIPS}) f"
    )
    return [r["at"] for r in rows]


async def category_tools(conn: Conn, category: str) -> list[Tool]:
    rows = await conn.fetch(f"SELECT record FROM {SCHEMA}.tools WHERE category = $1 ORDER BY slug", category)
    return [Tool.model_validate_json(r["record"]) for r in rows]


async def review_texts(conn: Conn, slug: str) -> list[str | None]:
    """The text of every review of the tool kept (all versions and runs)."""
    rows = await conn.fetch(f"SELECT body->>'review' AS review FROM {SCHEMA}.reviews WHERE slug = $1", slug)
    return [r["review"] for r in rows]


async def tool_record(conn: Conn, slug: str) -> Tool | None:
    record = await conn.fetchval(f"SELECT record FROM {SCHEMA}.tools WHERE slug = $1", slug)
    return Tool.model_validate_json(record) if record is not None else None


async def apply_ranking(conn: Conn, event: RankingUpdated) -> bool:
    """Rankings can overtake each other on the bus: the newest computed wins; ``False`` for an
    older one arriving late."""
    items = [i.model_dump(mode="json") for i in event.items]
    applied = await conn.fetchval(
        f"INSERT INTO {SCHEMA}.rankings AS r (category, computed_at, comparisons, provisional, items) "
        "VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (category) DO UPDATE SET "
        "computed_at = excluded.computed_at, comparisons = excluded.comparisons, "
        "provisional = excluded.provisional, items = excluded.items "
        "WHERE r.computed_at <= excluded.computed_at RETURNING 1",
        event.category,
        event.computed_at,
        event.comparisons,
        event.provisional,
        json.dumps(items),
    )
    return applied is not None


async def ranking(conn: Conn, category: str) -> RankingView | None:
    """The category's ranking, its tools named (a tool render does not know is left out)."""
    row = await conn.fetchrow(f"SELECT * FROM {SCHEMA}.rankings WHERE category = $1", category)
    if row is None:
        return None
    items = json.loads(row["items"])
    names = {
        r["slug"]: r["name"]
        for r in await conn.fetch(
            f"SELECT slug, record->>'name' AS name FROM {SCHEMA}.tools WHERE slug = ANY($1::text[])",
            [i["slug"] for i in items],
        )
    }
    return RankingView(
        category=row["category"],
        computed_at=row["computed_at"],
        comparisons=row["comparisons"],
        provisional=row["provisional"],
        items=tuple(
            RankedView(
                slug=i["slug"],
                name=names[i["slug"]],
                score=i["score"],
                low=i["low"],
                high=i["high"],
                rank=i["rank"],
                comparisons=i["comparisons"],
            )
            for i in items
            if i["slug"] in names
        ),
    )


async def pairs_in(conn: Conn, category: str) -> list[tuple[str, str]]:
    """The comparisons kept current with a tool in the category (canonical order)."""
    rows = await conn.fetch(
        f"SELECT p.a, p.b FROM {SCHEMA}.pairs p WHERE EXISTS ("
        f"SELECT 1 FROM {SCHEMA}.tools t WHERE t.slug IN (p.a, p.b) AND t.category = $1) ORDER BY p.a, p.b",
        category,
    )
    return [(r["a"], r["b"]) for r in rows]
