"""render: comparison pages rendered per second, and the time to render the whole site for
1,000 tools (tool pages, badges, categories, home, weekly issues, feed, every rival comparison),
against writing the same bytes atomically without rendering, measured in the same run.

Pages are rendered and published as the service's re-render loop does it
(``worker.render_pages``: a batch of ``worker.BATCH`` pages per transaction, their files published
as one batch by ``DirectoryPublisher.publish_all``). The baseline is deliberately not that
publisher: it writes the same files one by one, each to a temporary file, fsync'd, renamed over
its target (``write_one_by_one``), the plain atomic write with no rendering and no batching. A
faster publisher therefore raises the measured rate, never the baseline it is judged against.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.harness import Servers
from bench.table import Goal, Row
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
from verdicts.render.store import DirtyPage
from verdicts.render.worker import BATCH, render_pages

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


async def render_site(conn: Any, site: Site, publisher: DirectoryPublisher, pages: list[str]) -> list[Output]:
    """Render and publish ``pages`` as the re-render loop does: a batch per transaction."""
    outputs: list[Output] = []
    for start in range(0, len(pages), BATCH):
        async with conn.transaction():
            batch = [DirtyPage(p, []) for p in pages[start : start + BATCH]]
            outputs.extend(await render_pages(conn, site, publisher, batch))
    return outputs


def write_one_by_one(root: Path, outputs: list[Output]) -> None:
    """The baseline: each file written atomically on its own (temporary file, fsync, rename)."""
    for output in outputs:
        target = root / output.path
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(output.body)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temporary, 0o644)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise


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
            comparison_outputs = await render_site(conn, site, publisher, pairs)
            comparisons_s = time.perf_counter() - started

            raw = Path(tempfile.mkdtemp(prefix="verdicts-bench-raw-"))
            started = time.perf_counter()
            await asyncio.to_thread(write_one_by_one, raw, comparison_outputs)
            write_s = time.perf_counter() - started

            slugs = await store.slugs(conn)
            everything = [
                *pairs,
                *(f"tool:{s}" for s in slugs),
                *(f"badge:{s}" for s in slugs),
                *(f"category:{c}" for c, _ in await store.categories(conn)),
                *(f"issue:{w}" for w in issue_weeks(await store.issue_times(conn))),
                "home",
                "feed",
            ]
            site = Site("https://verdicts.example", 25)  # cold: nothing made by the run above is kept
            started = time.perf_counter()
            site_outputs = await render_site(conn, site, publisher, everything)
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


def rows(r: dict[str, Any]) -> list[Row]:
    """The two figures of issue #18: comparison pages published per second against writing the same
    files one by one (same run), and the whole site's time."""
    return [
        Row(
            "render: comparison pages published/s",
            r["comparisons"] / r["comparisons_s"],
            "pages/s",
            Goal.at_least(0.6),
            baseline=r["comparisons"] / r["write_s"],
            baseline_label="pages/s written",
        ),
        Row(f"render: whole site, {r['tools']:,} tools", r["site_s"], "s", Goal.at_most(10)),
    ]
