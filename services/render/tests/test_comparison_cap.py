"""Requested comparisons are capped per category (VERDICTS_RENDER_MAX_PAIRS): past the cap a request
is refused with nothing kept or published; rivals are not counted; a pair across two categories
counts in both. On the real NATS and PostgreSQL, with a cap of one."""

from __future__ import annotations

from decimal import Decimal
from itertools import combinations

import httpx
import pytest

from verdicts.contracts import Pricing, Tool, ToolAnnounced
from verdicts.platform.access.issuing import grant
from verdicts.platform.access.keys import Scope
from verdicts.platform.service import build_app
from verdicts.platform.testing.plugin import eventually, served
from verdicts.render.app import create_app as render_app

pytestmark = pytest.mark.integration

WRITING = ("quill", "scribe", "inkwell", "parchment")  # one category, each with one rival
DESIGN = "easel"  # alone in its category
AUDIO = "chord"  # alone in its category


def tool(slug: str, category: str) -> Tool:
    return Tool(
        slug=slug,
        name=slug.capitalize(),
        vendor="Vendor",
        category=category,
        tagline=f"{slug} does things",
        description=f"{slug} is a tool for testing the cap.",
        pricing=Pricing(model="free", entry="Free", entry_price_usd=Decimal(0)),
        homepage="https://example.com",
    )


@pytest.fixture(scope="module")
async def site(settings, bus, db, monkeypatch_module, tmp_path_factory):
    monkeypatch_module.setenv("VERDICTS_RENDER_SITE_DIR", str(tmp_path_factory.mktemp("site")))
    monkeypatch_module.setenv("VERDICTS_RENDER_INTERVAL_S", "0.2")
    monkeypatch_module.setenv("VERDICTS_RENDER_MAX_PAIRS", "1")
    monkeypatch_module.setenv("VERDICTS_RENDER_RIVALS", "1")
    async with (
        served(build_app([render_app(settings)], settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        await bus(
            *(ToolAnnounced.create(tool=tool(s, "Writing"), version=1, content_hash=s) for s in WRITING),
            ToolAnnounced.create(tool=tool(DESIGN, "Design"), version=1, content_hash=DESIGN),
            ToolAnnounced.create(tool=tool(AUDIO, "Audio"), version=1, content_hash=AUDIO),
        )

        async def all_known() -> bool:
            return await db.fetchval("SELECT count(*) FROM render.tools") == len(WRITING) + 2

        await eventually(all_known, within=20, interval=0.1)
        yield client


@pytest.fixture(scope="module")
async def rerun(database_url, site) -> dict[str, str]:
    return {"Authorization": f"Bearer {await grant(database_url, Scope.REVIEWS_RERUN, name='rerun')}"}


async def kept(db) -> dict[tuple[str, str], str]:
    return {(r["a"], r["b"]): r["reason"] for r in await db.fetch("SELECT a, b, reason FROM render.pairs")}


def body(pair: tuple[str, str]) -> dict[str, str]:
    return {"a": pair[0], "b": pair[1]}


async def test_past_the_cap_a_request_is_refused_and_nothing_is_kept(site, rerun, db):
    before = await kept(db)
    rivals = [pair for pair, reason in before.items() if reason == "rival"]
    assert rivals, "each tool of Writing keeps its nearest rival"
    free = [pair for pair in combinations(sorted(WRITING), 2) if pair not in before]
    assert free
    # a pair kept as a rival is answered as kept; rivals do not count against the cap
    rival = await site.post("/v1/comparisons", json=body(rivals[0]), headers=rerun)
    assert (rival.status_code, rival.json()["added"]) == (201, False)
    # a pair across two categories takes the one place of each
    across = (DESIGN, WRITING[0])
    first = await site.post("/v1/comparisons", json=body(across), headers=rerun)
    assert (first.status_code, first.json()["added"]) == (201, True)
    now = before | {tuple(sorted(across)): "requested"}
    assert await kept(db) == now
    over = await site.post("/v1/comparisons", json=body(free[0]), headers=rerun)
    assert over.status_code == 409
    assert over.headers["content-type"].startswith("application/problem+json")
    problem = over.json()
    assert (problem["code"], problem["category"], problem["limit"]) == ("too-many-pairs", "Writing", 1)
    assert await kept(db) == now
    path = f"compare/{free[0][0]}-vs-{free[0][1]}/"
    assert await db.fetchval("SELECT count(*) FROM render.pages WHERE path LIKE $1", path + "%") == 0
    design = await site.post("/v1/comparisons", json=body((AUDIO, DESIGN)), headers=rerun)
    assert (design.status_code, design.json()["category"]) == (409, "Design")
    assert await kept(db) == now
    # a refused pair is still there for a reader, rendered and not kept
    assert (await site.get("/" + path)).status_code == 200
    assert await kept(db) == now
    # asking again for a kept pair is not a new one
    again = await site.post("/v1/comparisons", json=body(across), headers=rerun)
    assert (again.status_code, again.json()["added"]) == (201, False)
