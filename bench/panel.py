"""The review panel on the local model: reviews per second for a 12-tool batch, and the panel's
own time per tool (ingest, bus hops, prompts, grounding, storage) beside the model's time, both
measured in the same run: the panel runs one review at a time so wall time = model + panel."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import asyncpg
import httpx

from bench.harness import Servers, admin_headers, service
from verdicts.platform.testing import sample_tools

SAMPLE = sample_tools()


async def run(env: Servers, model_url: str) -> dict[str, Any]:
    model = {"VERDICTS_MODEL_URL": model_url}
    one_at_a_time = {"VERDICTS_REVIEW_PANEL_CONCURRENCY": "1"}
    with (
        service("inference", env, model),
        service("review-panel", env, one_at_a_time),
        service("ingest", env) as ingest_url,
    ):
        conn = await asyncpg.connect(env.database_url)
        try:
            started = time.perf_counter()
            headers = await admin_headers(env)
            async with httpx.AsyncClient(base_url=ingest_url, timeout=60, headers=headers) as client:
                answer = await client.post("/v1/tools/batch", json=SAMPLE)
                answer.raise_for_status()
            done = "SELECT count(*) FROM review_panel.panels WHERE status <> 'running'"
            while True:  # PostgreSQL offers no event to wait on here; poll
                if await conn.fetchval(done) >= len(SAMPLE):
                    break
                await asyncio.sleep(0.5)
            wall = time.perf_counter() - started
            rows = await conn.fetch("SELECT status, provenance FROM review_panel.reviews")
        finally:
            await conn.close()
    model_s = sum(json.loads(r["provenance"])["latency_ms"] for r in rows if r["provenance"]) / 1000
    return {
        "tools": len(SAMPLE),
        "reviews": len(rows),
        "completed": sum(r["status"] == "completed" for r in rows),
        "wall_s": wall,
        "model_s": model_s,
    }


def report(r: dict[str, Any]) -> str:
    panel_s = r["wall_s"] - r["model_s"]
    return "\n".join(
        [
            "review-panel (local SmolLM2-135M, one review at a time):",
            f"  {r['reviews']} reviews ({r['completed']} completed) for {r['tools']} tools "
            f"in {r['wall_s']:.1f} s: {r['reviews'] / r['wall_s']:.2f} reviews/s",
            f"  model time {r['model_s']:.1f} s; panel's own time "
            f"{panel_s / r['tools'] * 1000:.0f} ms per tool "
            f"-> wall / model ratio {r['wall_s'] / r['model_s']:.3f}",
        ]
    )
