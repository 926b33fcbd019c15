"""review-panel's SQL: its tool copies, panel runs and reviews, and its outbox. No decisions."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from verdicts.contracts import Choice, Event, ReviewRequested, Tool
from verdicts.platform.db import Conn
from verdicts.platform.outbox import enqueue
from verdicts.review_panel.domain import Panel, PanelStatus, Rerun, ReviewOutcome, StoredReview, Tally

SCHEMA = "review_panel"


async def keep_tool(conn: Conn, tool: Tool, version: int) -> None:
    """Keep a copy of the tool version (the first copy of a version stays)."""
    await conn.execute(
        f"INSERT INTO {SCHEMA}.tool_versions (slug, version, record) VALUES ($1, $2, $3::jsonb) "
        "ON CONFLICT DO NOTHING",
        tool.slug,
        version,
        tool.model_dump_json(),
    )


async def open_first_run(conn: Conn, slug: str, version: int, personas: list[str]) -> bool:
    """Open run 1 of the version's panel; ``False`` when it already has one."""
    await lock_tool(conn, slug)
    created = await conn.fetchval(
        f"INSERT INTO {SCHEMA}.panels (slug, version, run, personas) VALUES ($1, $2, 1, $3) "
        "ON CONFLICT DO NOTHING RETURNING run",
        slug,
        version,
        personas,
    )
    return created is not None


async def lock_tool(conn: Conn, slug: str) -> None:
    """Runs of one tool are opened one at a time: this lock is held until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"review-panel:{slug}")


async def latest_version(conn: Conn, slug: str) -> int | None:
    """The newest version of the tool kept here; ``None`` for a tool not seen."""
    version: int | None = await conn.fetchval(
        f"SELECT max(version) FROM {SCHEMA}.tool_versions WHERE slug = $1", slug
    )
    return version


async def open_next_run(
    conn: Conn, slug: str, version: int, personas: list[str], in_progress_max_s: float
) -> Rerun:
    """Open the next run of the version's panel, unless a run of the tool opened less than
    ``in_progress_max_s`` ago is still running: then that run, not started.

    The check and the insert are one statement (one snapshot) under the tool's lock: a second
    re-run waits for the first to commit, and then sees the run the first opened.
    """
    await lock_tool(conn, slug)
    row = await conn.fetchrow(
        f"WITH blocking AS (SELECT version, run FROM {SCHEMA}.panels WHERE slug = $1 "
        "AND status = 'running' AND created_at > now() - make_interval(secs => $4) "
        "ORDER BY created_at DESC, version DESC, run DESC LIMIT 1), "
        f"opened AS (INSERT INTO {SCHEMA}.panels (slug, version, run, personas) "
        f"SELECT $1, $2, coalesce(max(run), 0) + 1, $3 FROM {SCHEMA}.panels WHERE slug = $1 AND version = $2 "
        "HAVING NOT EXISTS (SELECT 1 FROM blocking) RETURNING version, run) "
        "SELECT true AS started, version, run FROM opened "
        "UNION ALL SELECT false, version, run FROM blocking",
        slug,
        version,
        personas,
        in_progress_max_s,
    )
    assert row is not None  # one of the two: a run opened, or the run that stopped it
    return Rerun(row["started"], row["version"], row["run"])


async def record_event(conn: Conn, event: Event) -> None:
    """Write the event to the outbox in the caller's transaction (relayed after commit)."""
    await enqueue(conn, SCHEMA, event)


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


async def lock_panel(conn: Conn, job: ReviewRequested) -> Panel | None:
    """The job's panel run, its row locked for the rest of the transaction.

    Lock it before writing a review: the review's foreign key takes a share lock on the panel
    row, and two reviews of one panel that each held that and then asked for the update lock
    deadlocked.
    """
    row = await conn.fetchrow(
        f"SELECT personas, status FROM {SCHEMA}.panels "
        "WHERE slug = $1 AND version = $2 AND run = $3 FOR UPDATE",
        job.tool_slug,
        job.tool_version,
        job.panel_run,
    )
    return Panel(tuple(row["personas"]), PanelStatus(row["status"])) if row else None


async def insert_review(conn: Conn, job: ReviewRequested, outcome: ReviewOutcome) -> bool:
    """Store the job's review; ``False`` when it is already stored."""
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
    return inserted is not None


async def panel_reviews(conn: Conn, job: ReviewRequested) -> list[StoredReview]:
    """The reviews stored on the job's panel run so far."""
    rows = await conn.fetch(
        f"SELECT persona, verdict, status FROM {SCHEMA}.reviews "
        "WHERE slug = $1 AND version = $2 AND run = $3",
        job.tool_slug,
        job.tool_version,
        job.panel_run,
    )
    return [
        StoredReview(r["persona"], Choice(r["verdict"]) if r["status"] == "completed" else None) for r in rows
    ]


async def close_panel(conn: Conn, job: ReviewRequested, result: Tally) -> None:
    """Write the decided panel's status and tally."""
    await conn.execute(
        f"UPDATE {SCHEMA}.panels SET status = $4, ship = $5, skip = $6, failed = $7, ship_pct = $8, "
        "completed_at = now() WHERE slug = $1 AND version = $2 AND run = $3",
        job.tool_slug,
        job.tool_version,
        job.panel_run,
        result.status.value,
        result.ship,
        result.skip,
        result.failed,
        result.ship_pct,
    )


async def reviews_of(pool: asyncpg.Pool, slug: str) -> list[dict[str, Any]]:
    """Every panel run of a tool, newest first, each with its reviews (by persona id)."""
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
                "personas": list(p["personas"]),
                "created_at": p["created_at"].isoformat(),
                "completed_at": p["completed_at"].isoformat() if p["completed_at"] else None,
            },
            "reviews": by_panel.get((p["version"], p["run"]), []),
        }
        for p in panels
    ]
