"""pipeline (issue #18): announce -> comparison page published with the new tool's panel verdict,
model time excluded.

The whole pipeline runs as real processes (``ChaosStack``: nats-server, PostgreSQL, and ``verdicts
run`` ingest, review-panel, inference, render); every reviewer persona is assigned the
``claude-sonnet-4`` route, pointed at the project's Anthropic stand-in (``fake_anthropic``, the real
Messages wire format) answering at once, so the figure is the pipeline's own latency. votes is not
started: a comparison page is published without a tally (its community column reads "no votes").

A first tool is announced and its panel awaited; then ``tools`` new tools in the same category are
announced one at a time. For each, t0 is taken just before ``POST /v1/tools`` and t1 is the
modification time of the first comparison page (``compare/<a>-vs-<b>/index.json``, canonical
order, written after the page's HTML) whose JSON shows the new tool's panel verdict. Pages are
written atomically, so the file's mtime is the publish moment and the 10 ms polling of the site
folder does not count. A tap on the bus (core NATS subscriptions on ``ingest.>``, ``panel.>``,
``render.>``) and the stand-in's own clock timestamp each stage on the same clock.

``run`` is async: ``asyncio.run(pipeline.run())``; or ``.venv/bin/python -m bench.pipeline``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import yaml

from bench.table import Goal, Row, render
from verdicts.platform.access.issuing import grant
from verdicts.platform.access.keys import Scope
from verdicts.platform.testing.chaos import ChaosStack

sys.path.insert(0, str(Path(__file__).parents[1] / "services" / "inference" / "tests"))
from fake_anthropic import Behaviour, FakeAnthropic, fake_anthropic  # type: ignore[import-not-found]

SERVICES = ("ingest", "review-panel", "inference", "render")
ROUTE = "claude-sonnet-4"
PERSONAS = ("developer-experience", "category-skeptic", "thesis", "buyer")
CATEGORY = "Developer Tools"
NOUNS = ("Lantern", "Compass", "Harbor", "Quill", "Anvil", "Beacon", "Meadow", "Prism", "Summit", "Otter")
ADJECTIVES = ("Brisk", "Quiet", "Amber", "Nimble", "Lucid", "Steady", "Bright", "Clever", "Swift", "Bold")
FILLER = (
    "sets up quickly and the defaults are sensible for a small team. The command line is tidy, the "
    "errors explain themselves, and the history view makes a bad change easy to undo. Pricing is "
    "plain enough to budget for, though the paid tier arrives sooner than a growing team would like. "
    "Documentation covers the common paths well. It earns a place on a shortlist for teams who want "
    "fewer moving parts and predictable bills."
)
"""74 words: with a tool's name and a persona's opening, inside the review pattern's 60-90 words."""
KEY_POINTS = ["Quick to set up", "Clear errors and history", "Paid tier arrives early"]
POLL_S = 0.01
"""How often the site folder is looked at (the figure reads file mtimes, not this clock)."""
FIGURE = "pipeline: announce -> comparison page, p50 (model excluded)"
STAGES = (
    ("ingest_http", "ingest answers POST /v1/tools"),
    ("announced", "ingest.tool.announced on the bus (outbox)"),
    ("review_requested", "first panel.review.requested (panel opened, jobs out)"),
    ("first_model_call", "first model call reaches the stand-in"),
    ("last_model_call", "last model call reaches the stand-in"),
    ("last_review", "last panel.review.completed on the bus"),
    ("verdict", "panel.verdict.updated on the bus"),
    ("render_tool", "render applies the announcement (its transaction's start)"),
    ("render_verdict", "render applies the verdict (its transaction's start)"),
    ("first_page", "comparison page first written (before the verdict)"),
    ("page", "comparison page written with the verdict (t1)"),
    ("page_event", "render.page.published for that page (outbox)"),
)


def tool_record(i: int) -> dict[str, Any]:
    name = f"{ADJECTIVES[i // 10 % 10]} {NOUNS[i % 10]}" + (f" {i // 100 + 1}" if i >= 100 else "")
    vendor = f"{name.split()[1]} Labs"
    return {
        "name": name,
        "vendor": vendor,
        "category": CATEGORY,
        "tagline": "A developer tools product for small teams",
        "description": f"{name} is a developer tools product made by {vendor}. It runs in the browser and "
        "in the terminal, keeps a history of every change, and offers a free tier with paid plans.",
        "pricing": {"model": "freemium", "entry": "Free, then $12 a month"},
        "homepage": f"https://{name.lower().replace(' ', '-')}.example",
    }


def instant_answers(fake: FakeAnthropic, calls: list[tuple[float, str]]) -> None:
    """Answer every review at once with one that passes the panel's schema and grounding: the review
    opens with what the schema's pattern demands (the tool's name, the persona's opening words)."""
    plain = fake.respond

    def respond(body: dict[str, Any], behaviour: Behaviour) -> Any:
        schema = body["tools"][0]["input_schema"]
        pattern: str = schema["properties"]["review"]["pattern"]
        opening = re.sub(r"\\(.)", r"\1", pattern[1 : pattern.index("( (")])
        calls.append((time.time(), opening))
        answer = {
            "review": f"{opening} {FILLER}",
            "key_points": KEY_POINTS,
            "verdict": "ship",
            "confidence": 0.7,
        }
        return plain(body, Behaviour("ok", answer))

    fake.respond = respond


class Tap:
    """Core NATS subscriptions beside the services' own: when each event crossed the bus."""

    def __init__(self) -> None:
        self.seen: dict[str, list[tuple[float, str]]] = defaultdict(list)
        self.nc: Any = None

    async def start(self, url: str) -> None:
        self.nc = await nats.connect(url)
        for subjects in ("ingest.>", "panel.>", "render.>"):
            await self.nc.subscribe(subjects, cb=self._heard)

    async def _heard(self, msg: Any) -> None:
        at = time.time()
        with contextlib.suppress(ValueError, AttributeError):
            body = json.loads(msg.data)
            key = body.get("tool_slug") or (body.get("tool") or {}).get("slug") or body.get("path") or ""
            self.seen[msg.subject].append((at, key))

    def times(self, subject: str, key: str) -> list[float]:
        return sorted(t for t, k in self.seen[subject] if k == key)

    async def stop(self) -> None:
        if self.nc is not None:
            await self.nc.close()


async def render_applied(url: str) -> dict[tuple[str, str], float]:
    """When render's read model took in each tool and each panel verdict (PostgreSQL's now(): the
    start of the applying transaction)."""
    conn = await asyncpg.connect(url)
    try:
        tools = await conn.fetch("SELECT slug, extract(epoch FROM announced_at) AS at FROM render.tools")
        panels = await conn.fetch(
            "SELECT slug, min(extract(epoch FROM received_at)) AS at FROM render.panels GROUP BY slug"
        )
    finally:
        await conn.close()
    return {("tool", r["slug"]): float(r["at"]) for r in tools} | {
        ("panel", r["slug"]): float(r["at"]) for r in panels
    }


def page_shows_verdict(document: Path, slug: str) -> bool:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(document.read_text())
        side = next(data[s] for s in ("a", "b") if data[s]["tool"]["slug"] == slug)
        return side["panel"] is not None
    return False


async def published(site: Path, slug: str, others: list[str], within: float) -> dict[str, Any]:
    """Poll the site folder until a comparison of ``slug`` with one of ``others`` shows its panel."""
    names = {f"{min(slug, o)}-vs-{max(slug, o)}" for o in others}
    first: dict[str, float] = {}
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(site / "compare"):
                if entry.name not in names:
                    continue
                document = Path(entry.path) / "index.json"
                with contextlib.suppress(FileNotFoundError):
                    written = document.stat().st_mtime
                    first.setdefault(entry.name, written)
                    if page_shows_verdict(document, slug) and document.stat().st_mtime == written:
                        return {
                            "page": written,
                            "path": f"/compare/{entry.name}/",
                            "first_page": min(first.values()),
                        }
        await asyncio.sleep(POLL_S)
    raise TimeoutError(f"no comparison page of {slug} showed its verdict within {within:.0f} s")


async def run(
    tools: int = 20, env: dict[str, str] | None = None, settle_s: float = 1.0, keep: bool = False
) -> dict[str, Any]:
    """Start the stack, announce 1 + ``tools`` tools, measure, stop everything. ``env``: extra
    settings for every service (beside those that point inference at the stand-in); ``settle_s``:
    the pause after each measured tool, so its remaining pages are out of the next one's way."""
    folder = Path(tempfile.mkdtemp(prefix="verdicts-bench-pipeline-"))
    site = folder / "site"
    calls: list[tuple[float, str]] = []
    tap = Tap()
    began = time.monotonic()
    async with fake_anthropic() as fake:
        instant_answers(fake, calls)
        assignment = folder / "assignment.yaml"
        assignment.write_text(yaml.safe_dump(dict.fromkeys(PERSONAS, ROUTE)))
        settings = {
            # The Anthropic backend's address (a routes file's base_url does not reach it).
            "VERDICTS_INFERENCE_ANTHROPIC_BASE_URL": fake.url,
            "ANTHROPIC_API_KEY": "sk-ant-bench-not-a-secret",
            "VERDICTS_REVIEW_PANEL_ASSIGNMENT_FILE": str(assignment),
            "VERDICTS_RENDER_SITE_DIR": str(site),
            **(env or {}),
        }
        stack = ChaosStack(folder, services=SERVICES, env=settings)
        try:
            await asyncio.to_thread(stack.start)
            started_s = time.monotonic() - began
            await tap.start(stack.nats.url)
            key = await grant(stack.keys_database_url, Scope.ADMIN, name="bench-pipeline")
            headers = {"Authorization": f"Bearer {key}"}
            measured: list[dict[str, Any]] = []
            async with httpx.AsyncClient(
                base_url=stack.base_url("ingest"), timeout=30, headers=headers
            ) as client:

                async def announce(i: int) -> tuple[float, float, str]:
                    t0 = time.time()
                    answer = await client.post("/v1/tools", json=tool_record(i))
                    acked = time.time()
                    answer.raise_for_status()
                    return t0, acked, str(answer.json()["slug"])

                _, _, first = await announce(0)
                deadline = time.monotonic() + 120
                while not tap.times("panel.verdict.updated", first):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the first tool's panel ({first}) did not complete")
                    await asyncio.sleep(0.05)
                slugs = [first]
                for i in range(1, tools + 1):
                    await asyncio.sleep(settle_s)
                    t0, acked, slug = await announce(i)
                    page = await published(site, slug, slugs, within=60)
                    measured.append({"slug": slug, "t0": t0, "ingest_http": acked, **page})
                    slugs.append(slug)
                await asyncio.sleep(0.5)  # the last page's render.page.published through the outbox
            applied = await render_applied(stack.database_urls["render"])
        finally:
            await tap.stop()
            await asyncio.to_thread(stack.stop)
            if not keep:
                shutil.rmtree(folder, ignore_errors=True)
    names = {tool_record(i)["name"]: s["slug"] for i, s in enumerate(measured, 1)}
    model_calls: dict[str, list[float]] = defaultdict(list)
    for at, opening in calls:
        name = next((n for n in names if opening.startswith(n + " ")), None)
        if name is not None:
            model_calls[names[name]].append(at)
    for m in measured:
        slug, t0 = m["slug"], m["t0"]

        def first_of(subject: str, key: str = slug) -> float | None:
            times = tap.times(subject, key)
            return times[0] if times else None

        reviews = tap.times("panel.review.completed", slug)
        calls_of = sorted(model_calls[slug])
        pages = [t for t in tap.times("render.page.published", m["path"] + "index.json") if t >= m["page"]]
        stamps = {
            "ingest_http": m["ingest_http"],
            "announced": first_of("ingest.tool.announced"),
            "review_requested": first_of("panel.review.requested"),
            "first_model_call": calls_of[0] if calls_of else None,
            "last_model_call": calls_of[-1] if calls_of else None,
            "last_review": reviews[-1] if reviews else None,
            "verdict": first_of("panel.verdict.updated"),
            "render_tool": applied.get(("tool", slug)),
            "render_verdict": applied.get(("panel", slug)),
            "first_page": m["first_page"],
            "page": m["page"],
            "page_event": pages[0] if pages else None,
        }
        m["ms"] = {k: (v - t0) * 1000 if v is not None else None for k, v in stamps.items()}
        m["model_calls"] = len(calls_of)
    latencies = sorted(m["ms"]["page"] for m in measured)
    return {
        "tools": len(measured),
        "latencies_ms": latencies,
        "p50_ms": statistics.median(latencies),
        "p90_ms": latencies[max(0, -(-len(latencies) * 9 // 10) - 1)],
        "max_ms": latencies[-1],
        "stages_ms": {
            k: statistics.median(v)
            if (v := [m["ms"][k] for m in measured if m["ms"][k] is not None])
            else None
            for k, _ in STAGES
        },
        "each": [{"slug": m["slug"], "t0": m["t0"], "path": m["path"], "ms": m["ms"]} for m in measured],
        "folder": str(folder) if keep else None,
        "model_calls": len(calls),
        "model_calls_per_tool": dict(Counter(m["model_calls"] for m in measured)),
        "requests_logged": len(fake.requests),
        "env": dict(env or {}),
        "started_s": started_s,
        "wall_s": time.monotonic() - began,
    }


def rows(r: dict[str, Any]) -> list[Row]:
    return [Row(FIGURE, r["p50_ms"], "ms", Goal.at_most(500))]


def report(r: dict[str, Any]) -> str:
    settings = ", ".join(f"{k}={v}" for k, v in r["env"].items()) or "defaults"
    lines = [
        "pipeline (announce -> comparison page with the panel verdict; model: instant stand-in; "
        f"{settings}):",
        f"  {r['tools']} tools one at a time: p50 {r['p50_ms']:.0f} ms, p90 {r['p90_ms']:.0f} ms, "
        f"max {r['max_ms']:.0f} ms (goal p50 <= 500 ms)",
        "  each (ms, sorted): " + " ".join(f"{v:.0f}" for v in r["latencies_ms"]),
        f"  model calls {r['model_calls']} (stand-in's request log: {r['requests_logged']}; "
        f"per measured tool: {r['model_calls_per_tool']})",
        "  median ms after POST /v1/tools:",
        *(
            f"    {r['stages_ms'][k]:7.0f}  {label}"
            if r["stages_ms"][k] is not None
            else f"       -  {label}"
            for k, label in STAGES
        ),
        f"  stack started in {r['started_s']:.0f} s; whole run {r['wall_s']:.0f} s",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tools", type=int, default=20, help="tools measured (after the first)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a service setting")
    parser.add_argument("--keep", action="store_true", help="keep the stack's folder (logs, site)")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.set)
    result = asyncio.run(run(args.tools, env, keep=args.keep))
    print(report(result))
    print(render(rows(result)))


if __name__ == "__main__":
    main()
