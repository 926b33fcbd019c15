"""render: comparison pages rendered per second, and the time to render the whole site for
1,000 tools (tool pages, badges, categories, home, weekly issues, feed, every rival comparison),
against writing the same bytes atomically without rendering, measured in the same run."""

from __future__ import annotations

import asyncio
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.harness import Servers
from verdicts.contracts import (
    Interval,
    PanelVerdictUpdated,
    Pricing,
    Provenance,
    ReviewCompleted,
    TallyUpdated,
    Tool,
)
from verdicts.platform.db import create_pool, migrate
from verdicts.render import store
from verdicts.render.domain import humanised, issue_weeks
from verdicts.render.pages import Output, Site
from verdicts.render.publisher import DirectoryPublisher
from verdicts.render.read_model import refresh_rivals
from verdicts.render.worker import publish_outputs

MIGRATIONS = Path(store.__file__).parent / "migrations"
PERSONAS = ("developer-experience", "category-skeptic", "thesis", "buyer")
WORDS = "The primitive here is a model with documented evaluations and a clear upgrade path. " * 6


def tool(i: int) -> Tool:
    return Tool(
        slug=f"tool-{i:04d}",
        name=f"Tool {i:04d}",
        vendor=f"Vendor {i % 97}",
        category=f"Category {i % 20:02d}",
        tagline="An AI tool that does one thing well",
        description="A description of a tool, long enough to look like the real ones. " * 4,
        pricing=Pricing(model="freemium", entry="Free", entry_price_usd=Decimal(i % 3 * 10)),
        homepage=f"https://tool-{i}.example",
        tags=(f"tag-{i % 7}", f"tag-{i % 11}"),
    )


async def populate(conn: Any, tools: int) -> None:
    provenance = Provenance(
        route="local",
        backend="openai",
        model="smollm2-135m-instruct",
        prompt_template_version="t1",
        prompt_sha256="ab" * 32,
        schema_version="verdict-v2",
        temperature=0.3,
    )
    for i in range(tools):
        t = tool(i)
        await store.apply_tool(conn, t, 1)
        verdicts = ["ship" if (i + n) % 3 else "skip" for n in range(4)]
        for order, (persona, verdict) in enumerate(zip(PERSONAS, verdicts, strict=True)):
            await store.apply_review(
                conn,
                ReviewCompleted.create(
                    tool_slug=t.slug,
                    tool_version=1,
                    persona=persona,
                    persona_name=humanised(persona),
                    persona_order=order,
                    status="completed",
                    verdict=verdict,
                    review=f"{t.name}: {WORDS}",
                    key_points=("a key point",),
                    confidence=0.7,
                    provenance=provenance,
                ),
            )
        ship = verdicts.count("ship")
        await store.apply_panel(
            conn,
            PanelVerdictUpdated.create(
                tool_slug=t.slug, tool_version=1, ship=ship, skip=4 - ship, ship_pct=25.0 * ship
            ),
        )
        await store.apply_tally(
            conn,
            TallyUpdated.create(
                tool_slug=t.slug,
                ship=30 + i % 50,
                skip=20,
                community_ship_pct=60.0,
                interval=Interval(low=45, high=72),
                provisional=False,
            ),
        )
    for i in range(tools):
        await refresh_rivals(conn, f"tool-{i:04d}", 5)


async def render_pages(
    conn: Any, site: Site, publisher: DirectoryPublisher, pages: list[str]
) -> list[Output]:
    outputs: list[Output] = []
    for page in pages:
        rendered = await site.render(conn, page)
        async with conn.transaction():
            await publish_outputs(conn, publisher, rendered)
        outputs.extend(rendered)
    return outputs


async def run(env: Servers, tools: int) -> dict[str, Any]:
    pool = await create_pool(env.database_url, max_size=4)
    try:
        await migrate(pool, store.SCHEMA, MIGRATIONS)
        async with pool.acquire() as conn:
            await populate(conn, tools)
            site = Site("https://verdicts.example", 25)
            publisher = DirectoryPublisher(Path(tempfile.mkdtemp(prefix="verdicts-bench-site-")))
            pairs = [f"compare:{r['a']}:{r['b']}" for r in await conn.fetch("SELECT a, b FROM render.pairs")]
            started = time.perf_counter()
            comparison_outputs = await render_pages(conn, site, publisher, pairs)
            comparisons_s = time.perf_counter() - started

            raw = DirectoryPublisher(Path(tempfile.mkdtemp(prefix="verdicts-bench-raw-")))
            started = time.perf_counter()
            for output in comparison_outputs:
                await asyncio.to_thread(raw.publish, output.path, output.body, output.content_type)
            write_s = time.perf_counter() - started

            slugs = await store.slugs(conn)
            everything = [
                *pairs,
                *(f"tool:{s}" for s in slugs),
                *(f"badge:{s}" for s in slugs),
                *(f"category:{c}" for c, _ in await store.categories(conn)),
                *(f"issue:{w}" for w in issue_weeks(await store.announcement_times(conn))),
                "home",
                "feed",
            ]
            started = time.perf_counter()
            site_outputs = await render_pages(conn, site, publisher, everything)
            site_s = time.perf_counter() - started
    finally:
        await pool.close()
    return {
        "tools": tools,
        "comparisons": len(pairs),
        "comparisons_s": comparisons_s,
        "write_s": write_s,
        "pages": len(everything),
        "files": len(site_outputs),
        "site_s": site_s,
    }


def report(r: dict[str, Any]) -> str:
    per_s = r["comparisons"] / r["comparisons_s"]
    write_per_s = r["comparisons"] / r["write_s"]
    return "\n".join(
        [
            "render:",
            f"  comparison pages: {per_s:,.0f}/s rendered and published ({r['comparisons']:,} pages, "
            f"HTML + JSON) vs {write_per_s:,.0f}/s writing the same files only "
            f"-> ratio {per_s / write_per_s:.2f}",
            f"  whole site for {r['tools']:,} tools: {r['pages']:,} pages ({r['files']:,} files) "
            f"in {r['site_s']:.1f} s",
        ]
    )
