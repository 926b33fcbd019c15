"""Head-to-head rankings on the pages, from `votes.ranking.updated` on the real NATS and PostgreSQL:
the category page's chart (inline SVG, one mark per tool, named for screen readers) and table,
"provisional" below votes' minimum, a late older ranking ignored, and on each comparison page where
the two tools stand in their category and the "Which would you ship with?" form."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from xml.etree import ElementTree

import httpx
import pytest

from verdicts.contracts import Pricing, RankedItem, RankingUpdated, Tool, ToolAnnounced
from verdicts.platform.service import build_app
from verdicts.platform.testing.plugin import eventually, served
from verdicts.render.app import create_app as render_app
from verdicts.render.domain import RankedView, ranking_chart, standing_text

pytestmark = pytest.mark.integration

CATEGORY = "Code Editors"
NAMES = {"atom-ed": "Atom Ed", "brackets": "Brackets", "comet": "Comet"}
SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def tool(slug: str) -> Tool:
    return Tool(
        slug=slug,
        name=NAMES[slug],
        vendor="Vendor",
        category=CATEGORY,
        tagline=f"{NAMES[slug]} edits code",
        description=f"{NAMES[slug]} is an editor for testing rankings.",
        pricing=Pricing(model="free", entry="Free", entry_price_usd=Decimal(0)),
        homepage="https://example.com",
    )


def ranking(
    order: list[tuple[str, float]], comparisons: int, provisional: bool, at: datetime
) -> RankingUpdated:
    items = [
        RankedItem(slug=s, score=score, low=score - 60, high=score + 60, rank=n, comparisons=comparisons)
        for n, (s, score) in enumerate(order, start=1)
    ]
    return RankingUpdated.create(
        category=CATEGORY, computed_at=at, comparisons=comparisons, provisional=provisional, items=items
    )


@pytest.fixture(scope="module")
async def site(settings, bus, monkeypatch_module, tmp_path_factory):
    monkeypatch_module.setenv("VERDICTS_RENDER_SITE_DIR", str(tmp_path_factory.mktemp("site")))
    monkeypatch_module.setenv("VERDICTS_RENDER_INTERVAL_S", "0.2")
    async with (
        served(build_app([render_app(settings)], settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        await bus(*(ToolAnnounced.create(tool=tool(s), version=1, content_hash=s) for s in NAMES))
        await eventually(lambda: _has(client, "/categories/code-editors/", "Not ranked yet"), within=60)
        yield client


async def _has(client: httpx.AsyncClient, path: str, text: str) -> bool:
    response = await client.get(path)
    return response.status_code == 200 and text in response.text


async def _json_with(client: httpx.AsyncClient, path: str, key: str, value: object = None) -> dict | None:
    """The page's JSON once ``key`` is set (to ``value``, when given)."""
    response = await client.get(path)
    if response.status_code != 200:
        return None
    data = response.json()
    found = data.get(key)
    return data if found and (value is None or found == value) else None


def _chart(html: str) -> ElementTree.Element:
    found = re.search(r'<svg class="ranking-chart".*?</svg>', html, re.S)
    assert found, "no ranking chart"
    return ElementTree.fromstring(
        found.group(0).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
    )


async def test_the_category_page_charts_and_tabulates_the_ranking_provisional_below_the_minimum(site, bus):
    first = ranking([("brackets", 1080.0), ("atom-ed", 1000.0), ("comet", 920.0)], 12, True, T0)
    await bus(first)
    await eventually(lambda: _has(site, "/categories/code-editors/", "ranking-chart"), within=60)
    html = (await site.get("/categories/code-editors/")).text
    assert "style=" not in html  # CSP style-src 'self': attributes and classes only
    chart = _chart(html)
    assert chart.get("role") == "img"
    title = chart.find(f"{SVG}title")
    assert title is not None
    assert "#1 Brackets 1080 (1020\N{EN DASH}1140)" in (title.text or "")
    marks = chart.findall(f"{SVG}g[@class='mark']")
    assert [m.get("data-slug") for m in marks] == ["brackets", "atom-ed", "comet"]
    for mark in marks:
        assert mark.get("aria-label")
        assert mark.find(f"{SVG}circle") is not None
        assert mark.find(f"{SVG}line") is not None
    dots = [float(m.find(f"{SVG}circle").get("cx")) for m in marks]  # type: ignore[union-attr]
    assert dots == sorted(dots, reverse=True)  # the best score furthest right
    table = html[html.index('<table class="scorecard ranking">') :].split("</table>", 1)[0]
    rows = re.findall(r'<tr data-slug="([a-z-]+)"><td>(\d+)</td>', table)
    assert rows == [("brackets", "1"), ("atom-ed", "2"), ("comet", "3")]
    assert "1020\N{EN DASH}1140" in table
    assert "<td>12</td>" in table
    assert "Provisional: too few comparisons" in html
    # index.html and index.json are written one after the other: wait for the JSON too.
    data = await eventually(
        lambda: _json_with(site, "/categories/code-editors/index.json", "ranking"), within=60
    )
    assert data["ranking"]["provisional"] is True
    assert [i["slug"] for i in data["ranking"]["items"]] == ["brackets", "atom-ed", "comet"]

    # A firmer ranking replaces it; an older one arriving late changes nothing.
    firm = ranking(
        [("comet", 1100.0), ("brackets", 1010.0), ("atom-ed", 890.0)], 40, False, T0 + timedelta(minutes=5)
    )
    await bus(firm, ranking([("atom-ed", 1200.0)], 1, True, T0 - timedelta(minutes=5)))
    await eventually(
        lambda: _has(site, "/categories/code-editors/", '<tr data-slug="comet"><td>1</td>'), within=60
    )
    await eventually(lambda: _has(site, "/compare/atom-ed-vs-comet/", "#1 of 3 in Code Editors"), within=60)
    html = (await site.get("/categories/code-editors/")).text
    assert "Provisional: too few comparisons" not in html
    assert [m.get("data-slug") for m in _chart(html).findall(f"{SVG}g[@class='mark']")] == [
        "comet",
        "brackets",
        "atom-ed",
    ]


async def test_a_comparison_page_shows_where_each_tool_stands_and_asks_which_to_ship(site):
    await eventually(
        lambda: _has(site, "/compare/atom-ed-vs-comet/", "#3 of 3 in Code Editors</a>"), within=60
    )
    html = (await site.get("/compare/atom-ed-vs-comet/")).text
    assert "Which would you ship with?" in html
    forms = re.findall(r'<form method="post" action="/v1/votes/head-to-head/form">(.*?)</form>', html, re.S)
    assert len(forms) == 3
    winners = [re.search(r'name="winner" value="(\w+)"', f).group(1) for f in forms]  # type: ignore[union-attr]
    assert winners == ["a", "b", "tie"]
    assert all(
        'name="csrf" value=""' in f and 'name="return_to" value="/compare/atom-ed-vs-comet/"' in f
        for f in forms
    )
    labels = [re.search(r"<button type=\"submit\">(.*?)</button>", f).group(1) for f in forms]  # type: ignore[union-attr]
    assert labels == ["Atom Ed", "Comet", "It&#39;s a tie"]
    expected = {"atom-ed": "#3 of 3 in Code Editors", "comet": "#1 of 3 in Code Editors"}
    data = await eventually(
        lambda: _json_with(site, "/compare/atom-ed-vs-comet/index.json", "standings", expected), within=60
    )
    assert data["standings"] == expected


def test_the_chart_spans_every_interval_and_a_tool_without_ranking_is_not_ranked() -> None:
    items = [
        RankedView("a", "A", 1210.0, 1150.0, 1290.0, 1, 9),
        RankedView("b", "B", 790.0, 700.0, 850.0, 2, 9),
    ]
    chart = ranking_chart(items)
    assert chart.ticks[0][1] <= 700
    assert chart.ticks[-1][1] >= 1290
    for mark in chart.marks:
        assert chart.left <= mark.x_low <= mark.x_score <= mark.x_high <= chart.right
    assert standing_text(None, "a", "Editors") == "not ranked yet in Editors"
