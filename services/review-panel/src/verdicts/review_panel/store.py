"""review-panel's SQL: its tool copies, panel runs and reviews; events through the outbox."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg

from verdicts.contracts import (
    Choice,
    PanelVerdictUpdated,
    Provenance,
    ReviewCompleted,
    ReviewRequested,
    ReviewStatus,
    Tool,
)
from verdicts.platform.db import Conn
from verdicts.platform.outbox import enqueue
from verdicts.review_panel.domain import tally

SCHEMA = "review_panel"


async def open_panel(conn: Conn, tool: Tool, version: int, personas: list[str]) -> int | None:
    """Keep the tool version and open its first panel; ``None`` when it already has one."""
    await conn.execute(
        f"INSERT INTO {SCHEMA}.tool_versions (slug, version, record) VALUES ($1, $2, $3::jsonb) "
        "ON CONFLICT DO NOTHING",
        tool.slug,
        version,
        tool.model_dump_json(),
    )
    created = await conn.fetchval(
        f"INSERT INTO {SCHEMA}.panels (slug, version, run, personas) VALUES ($1, $2, 1, $3) "
        "ON CONFLICT DO NOTHING RETURNING run",
        tool.slug,
        version,
        personas,
    )
    if created is None:
        return None
    await _request_reviews(conn, tool.slug, version, 1, personas)
    return 1


async def rerun_panel(conn: Conn, slug: str, personas: list[str]) -> tuple[int, int] | None:
    """A fresh panel run for the latest version; ``None`` for an unknown tool."""
    version = await conn.fetchval(f"SELECT max(version) FROM {SCHEMA}.tool_versions WHERE slug = $1", slug)
    if version is None:
        return None
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"review-panel:{slug}")
    run = await conn.fetchval(
        f"INSERT INTO {SCHEMA}.panels (slug, version, run, personas) "
        f"SELECT $1, $2, coalesce(max(run), 0) + 1, $3 FROM {SCHEMA}.panels WHERE slug = $1 AND version = $2 "
        "RETURNING run",
        slug,
        version,
        personas,
    )
    await _request_reviews(conn, slug, version, run, personas)
    return version, run


async def _request_reviews(conn: Conn, slug: str, version: int, run: int, personas: list[str]) -> None:
    for persona in personas:
        await enqueue(
            conn,
            SCHEMA,
            ReviewRequested.create(
                event_id=f"review:{slug}:{version}:{run}:{persona}",
                tool_slug=slug,
                tool_version=version,
                panel_run=run,
                persona=persona,
            ),
        )


async def job_state(pool: asyncpg.Pool, job: ReviewRequested) -> tuple[Tool | None, bool]:
    """The tool record for a job, and whether its review is already stored."""
    row = await pool.fetchrow(
        f"SELECT t.record, r.persona IS NOT NULL AS done FROM {SCHEMA}.tool_versions t "
        f"LEFT JOIN {SCHEMA}.reviews r ON r.slug = t.slug AND r.version = t.version "
        "AND r.run = $3 AND r.persona = $4 WHERE t.slug = $1 AND t.version = $2",
        job.tool_slug,
        job.tool_version,
        job.panel_run,
        job.persona,
    )
    if row is None:
        return None, False
    return Tool.model_validate_json(row["record"]), bool(row["done"])


@dataclass(frozen=True, slots=True)
class ReviewOutcome:
    status: ReviewStatus
    verdict: Choice | None = None
    review: str | None = None
    key_points: tuple[str, ...] = ()
    confidence: float | None = None
    failure_reason: str | None = None
    route_note: str | None = None
    withheld_fields: tuple[str, ...] = ()
    provenance: Provenance | None = None


async def store_review(conn: Conn, job: ReviewRequested, outcome: ReviewOutcome) -> bool:
    """Store one review (once) and, when it is the panel's last, the panel verdict."""
    # Lock the panel first: the review's foreign key takes a share lock on the panel row, and two
    # reviews of one panel that each held that and then asked for the update lock deadlocked.
    panel = await conn.fetchrow(
        f"SELECT personas, status FROM {SCHEMA}.panels "
        "WHERE slug = $1 AND version = $2 AND run = $3 FOR UPDATE",
        job.tool_slug,
        job.tool_version,
        job.panel_run,
    )
    inserted = await conn.fetchval(
        f"INSERT INTO {SCHEMA}.reviews (slug, version, run, persona, status, verdict, review, key_points, "
        "confidence, failure_reason, route_note, provenance, withheld_fields) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12::jsonb, $13) "
        "ON CONFLICT DO NOTHING RETURNING 1",
        job.tool_slug,
        job.tool_version,
        job.panel_run,
        job.persona,
        outcome.status.value,
        outcome.verdict.value if outcome.verdict else None,
        outcome.review,
        json.dumps(list(outcome.key_points)),
        outcome.confidence,
        outcome.failure_reason,
        outcome.route_note,
        outcome.provenance.model_dump_json() if outcome.provenance else None,
        list(outcome.withheld_fields),
    )
    if inserted is None:
        return False
    await enqueue(
        conn,
        SCHEMA,
        ReviewCompleted.create(
            event_id=f"review-completed:{job.tool_slug}:{job.tool_version}:{job.panel_run}:{job.persona}",
            tool_slug=job.tool_slug,
            tool_version=job.tool_version,
            panel_run=job.panel_run,
            persona=job.persona,
            status=outcome.status,
            verdict=outcome.verdict,
            review=outcome.review,
            key_points=outcome.key_points,
            confidence=outcome.confidence,
            failure_reason=outcome.failure_reason,
            provenance=outcome.provenance,
            route_note=outcome.route_note,
            withheld_fields=outcome.withheld_fields,
        ),
    )
    verdicts = await conn.fetch(
        f"SELECT verdict, status FROM {SCHEMA}.reviews WHERE slug = $1 AND version = $2 AND run = $3",
        job.tool_slug,
        job.tool_version,
        job.panel_run,
    )
    if panel is None or panel["status"] != "running" or len(verdicts) < len(panel["personas"]):
        return True
    result = tally([r["verdict"] if r["status"] == "completed" else None for r in verdicts])
    status = "partial" if result.partial else "complete"
    await conn.execute(
        f"UPDATE {SCHEMA}.panels SET status = $4, ship = $5, skip = $6, failed = $7, ship_pct = $8, "
        "completed_at = now() WHERE slug = $1 AND version = $2 AND run = $3",
        job.tool_slug,
        job.tool_version,
        job.panel_run,
        status,
        result.ship,
        result.skip,
        result.failed,
        result.ship_pct,
    )
    await enqueue(
        conn,
        SCHEMA,
        PanelVerdictUpdated.create(
            event_id=f"panel:{job.tool_slug}:{job.tool_version}:{job.panel_run}",
            tool_slug=job.tool_slug,
            tool_version=job.tool_version,
            panel_run=job.panel_run,
            ship=result.ship,
            skip=result.skip,
            failed=result.failed,
            ship_pct=result.ship_pct,
            partial=result.partial,
        ),
    )
    return True


async def reviews_of(pool: asyncpg.Pool, slug: str) -> list[dict[str, Any]]:
    """Every panel run of a tool, newest first, each with its reviews."""
    panels = await pool.fetch(
        f"SELECT * FROM {SCHEMA}.panels WHERE slug = $1 ORDER BY version DESC, run DESC", slug
    )
    reviews = await pool.fetch(f"SELECT * FROM {SCHEMA}.reviews WHERE slug = $1 ORDER BY persona", slug)
    by_panel: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for r in reviews:
        by_panel.setdefault((r["version"], r["run"]), []).append(
            {
                "persona": r["persona"],
                "verdict": r["verdict"],
                "review": r["review"],
                "key_points": json.loads(r["key_points"]),
                "confidence": r["confidence"],
                "status": r["status"],
                "failure_reason": r["failure_reason"],
                "route_note": r["route_note"],
                "withheld_fields": list(r["withheld_fields"]),
                "provenance": json.loads(r["provenance"]) if r["provenance"] else None,
            }
        )
    return [
        {
            "version": p["version"],
            "run": p["run"],
            "panel": {
                "status": p["status"],
                "ship": p["ship"],
                "skip": p["skip"],
                "failed": p["failed"],
                "ship_pct": p["ship_pct"],
                "partial": p["status"] == "partial",
                "personas": list(p["personas"]),
                "created_at": p["created_at"].isoformat(),
                "completed_at": p["completed_at"].isoformat() if p["completed_at"] else None,
            },
            "reviews": by_panel.get((p["version"], p["run"]), []),
        }
        for p in panels
    ]
