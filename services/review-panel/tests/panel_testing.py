"""Helpers for review-panel's end-to-end tests: the sample tools, the operator's key, and what the
database holds."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import jsonschema

from verdicts.contracts import Tool
from verdicts.platform.access.issuing import grant
from verdicts.platform.access.keys import Scope
from verdicts.platform.testing import sample_tools
from verdicts.review_panel.domain import VERDICT_SCHEMA, verdict_schema
from verdicts.review_panel.personas import load_personas

SAMPLE: list[dict[str, Any]] = sample_tools()
PROVENANCE_FIELDS = (
    "route", "backend", "model", "prompt_template_version", "prompt_sha256", "schema_version",
    "temperature", "seed", "tokens_in", "tokens_out", "cost_usd", "latency_ms",
)  # fmt: skip


async def operator_key(database_url: str) -> str:
    """An admin key, as `verdicts up` gives the operator: announces the seed catalogue (any
    vendor's tools) and re-runs panels."""
    return await grant(database_url, Scope.ADMIN, name="review-panel-tests")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def panels_done(db: asyncpg.Connection, count: int) -> bool:
    done = await db.fetchval("SELECT count(*) FROM review_panel.panels WHERE status <> 'running'")
    return bool(done >= count)


async def assert_completed_with_provenance(db: asyncpg.Connection, row: asyncpg.Record) -> None:
    """A completed review: schema-valid for its tool, grounded, with every provenance field."""
    assert row["status"] == "completed", row["failure_reason"]
    record = await db.fetchval(
        "SELECT record FROM review_panel.tool_versions WHERE slug = $1 AND version = $2",
        row["slug"],
        row["version"],
    )
    answer = {
        "verdict": row["verdict"],
        "review": row["review"],
        "key_points": json.loads(row["key_points"]),
        "confidence": row["confidence"],
    }
    jsonschema.validate(answer, VERDICT_SCHEMA)
    opening = {p.id: p.opening for p in load_personas()}[row["persona"]]
    jsonschema.validate(answer, verdict_schema(Tool.model_validate_json(record), opening))
    provenance = json.loads(row["provenance"])
    for field in PROVENANCE_FIELDS:
        assert provenance[field] is not None, field
    assert len(provenance["prompt_sha256"]) == 64


FAILURES_BY_THE_RULES = ("grounding failed twice: ", "no valid answer in two attempts: ")


async def assert_completed_or_failed_by_the_rules(db: asyncpg.Connection, row: asyncpg.Record) -> None:
    """A completed review as above, or one stored as failed because the model broke a rule."""
    if row["status"] == "failed":
        assert (row["failure_reason"] or "").startswith(FAILURES_BY_THE_RULES), row["failure_reason"]
        assert row["review"] is None
    else:
        await assert_completed_with_provenance(db, row)
