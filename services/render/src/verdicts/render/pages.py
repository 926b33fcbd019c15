"""Pages from the read model: HTML (Jinja2, autoescaped: every tool and review text is data), a
JSON document beside each page, JSON-LD, an Atom feed and SVG badges. What a page shows is
decided in ``domain``; this module reads the views and fills the templates."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from verdicts.platform.db import Conn
from verdicts.render import store
from verdicts.render.domain import (
    ToolView,
    badge_label,
    by_panel_ship,
    comparison_data,
    comparison_ld,
    comparison_path,
    etag_of,
    gap,
    issue_weeks,
    pct,
    personas_of,
    plain,
    pricing_read,
    ranking_chart,
    reviewer_split,
    slugify,
    standing_text,
    tool_data,
    tool_ld,
    week_bounds,
)


@dataclass(frozen=True, slots=True)
class Output:
    path: str  # relative to the site root
    body: bytes
    content_type: str
    kind: str

    @property
    def etag(self) -> str:
        return etag_of(self.body)


def json_ld(data: dict[str, Any]) -> Markup:
    """JSON-LD that cannot close its <script> element, whatever the text inside."""
    text = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
    return Markup(text.replace("&", "\\u0026"))  # noqa: S704 - escaped above


class Site:
    def __init__(self, base_url: str, gap_flag_points: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.gap_flag_points = gap_flag_points
        self.env = Environment(
            loader=PackageLoader("verdicts.render", "templates"),
            autoescape=select_autoescape(["html", "xml", "atom", "svg"], default=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["pct"] = pct
        self.env.globals |= {
            "comparison_path": comparison_path,
            "slugify": slugify,
        }

    def _html(
        self, template: str, path: str, kind: str, data: dict[str, Any], **context: Any
    ) -> list[Output]:
        html = self.env.get_template(template).render(
            base_url=self.base_url, json_href=f"/{path}index.json", **context
        )
        return [
            Output(f"{path}index.html", html.encode(), "text/html; charset=utf-8", kind),
            Output(
                f"{path}index.json", json.dumps(plain(data), indent=1).encode(), "application/json", "json"
            ),
        ]

    async def render(self, conn: Conn, page: str) -> list[Output]:
        kind, _, rest = page.partition(":")
        if kind == "compare":
            a, b = rest.split(":", 1)
            return await self.comparison(conn, a, b)
        if kind == "tool":
            return await self.tool(conn, rest)
        if kind == "badge":
            return await self.badge(conn, rest)
        if kind == "category":
            return await self.category(conn, rest)
        if kind == "issue":
            return await self.issue(conn, rest)
        if kind == "home":
            return await self.home(conn)
        if kind == "feed":
            return await self.feed(conn)
        raise ValueError(f"unknown page {page!r}")

    async def comparison_data(self, conn: Conn, a: str, b: str) -> dict[str, Any] | None:
        """A comparison's JSON from the read model (``None`` when a tool is not known)."""
        left, right = await store.tool_view(conn, a), await store.tool_view(conn, b)
        if left is None or right is None:
            return None
        return comparison_data(left, right, self.gap_flag_points, self.base_url)

    async def comparison(self, conn: Conn, a: str, b: str) -> list[Output]:
        left, right = await store.tool_view(conn, a), await store.tool_view(conn, b)
        if left is None or right is None:
            return []
        views = [left, right]
        rankings = {c: await store.ranking(conn, c) for c in {v.tool.category for v in views}}
        standings = {v.slug: standing_text(rankings[v.tool.category], v.slug, v.tool.category) for v in views}
        return self._html(
            "compare.html",
            comparison_path(a, b),
            "comparison",
            comparison_data(left, right, self.gap_flag_points, self.base_url) | {"standings": standings},
            a=left,
            b=right,
            views=views,
            personas=personas_of(left, right),
            splits={v.slug: reviewer_split(v) for v in views},
            gaps={v.slug: gap(v, self.gap_flag_points) for v in views},
            pricing=pricing_read(left.tool, right.tool),
            standings=standings,
            jsonld=json_ld(comparison_ld(views, self.base_url)),
        )

    async def tool(self, conn: Conn, slug: str) -> list[Output]:
        view = await store.tool_view(conn, slug)
        if view is None:
            return []
        rivals = [b if a == slug else a for a, b in await store.pairs_of(conn, slug)]
        return self._html(
            "tool.html",
            f"tools/{slug}/",
            "tool",
            tool_data(view) | {"rivals": rivals},
            t=view,
            rivals=sorted(rivals),
            split=reviewer_split(view),
            gap=gap(view, self.gap_flag_points),
            personas=personas_of(view),
            jsonld=json_ld(tool_ld(view, self.base_url)),
        )

    async def badge(self, conn: Conn, slug: str) -> list[Output]:
        view = await store.tool_view(conn, slug)
        if view is None:
            return []
        svg = self.env.get_template("badge.svg").render(
            label=badge_label(view), verdict=view.verdict, name=view.tool.name
        )
        return [Output(f"badges/{slug}.svg", svg.encode(), "image/svg+xml", "badge")]

    async def category(self, conn: Conn, category: str) -> list[Output]:
        views = [
            v for s in await store.slugs(conn, category=category) if (v := await store.tool_view(conn, s))
        ]
        if not views:
            return []
        views = by_panel_ship(views)
        ranking = await store.ranking(conn, category)
        return self._html(
            "category.html",
            f"categories/{slugify(category)}/",
            "category",
            {"category": category, "tools": [tool_data(v) for v in views], "ranking": plain(ranking)},
            category=category,
            views=views,
            ranking=ranking,
            chart=ranking_chart(ranking.items) if ranking and ranking.items else None,
        )

    async def home(self, conn: Conn) -> list[Output]:
        """Latest comparisons, then latest verdicts, categories and weekly issues; while panels are
        still running, how far they are (and on an empty site, how to add tools)."""
        views = [v for s in await store.latest_slugs(conn, 24) if (v := await store.tool_view(conn, s))]
        pairs = []
        for a, b in await store.latest_pairs(conn, 12):
            left, right = await store.tool_view(conn, a), await store.tool_view(conn, b)
            if left is not None and right is not None:
                pairs.append((left, right))
        complete, total = await store.panel_progress(conn)
        cats = await store.categories(conn)
        weeks = issue_weeks(await store.issue_times(conn))
        data = {
            "progress": {"panels_complete": complete, "tools": total},
            "comparisons": [
                {"path": "/" + comparison_path(a.slug, b.slug), "a": tool_data(a), "b": tool_data(b)}
                for a, b in pairs
            ],
            "latest": [tool_data(v) for v in views],
            "categories": cats,
            "issues": weeks,
        }
        return self._html(
            "home.html",
            "",
            "home",
            data,
            views=views,
            pairs=pairs,
            progress=(complete, total),
            categories=cats,
            weeks=weeks,
        )

    @staticmethod
    async def week_contents(conn: Conn, week: str) -> tuple[list[ToolView], list[dict[str, Any]]]:
        """A week's announced tools and its flipped verdicts (each with its tool's name)."""
        announced, flips = await store.week_of(conn, *week_bounds(week))
        views = [v for s in announced if (v := await store.tool_view(conn, s))]
        names = {
            s: (v.tool.name if (v := await store.tool_view(conn, s)) else s)
            for s in {f["slug"] for f in flips}
        }
        return views, [f | {"name": names[f["slug"]]} for f in flips]

    async def issue(self, conn: Conn, week: str) -> list[Output]:
        views, flipped = await self.week_contents(conn, week)
        return self._html(
            "issue.html",
            f"weekly/{week}/",
            "issue",
            {"week": week, "announced": [tool_data(v) for v in views], "flipped": flipped},
            week=week,
            views=views,
            flipped=flipped,
        )

    async def feed(self, conn: Conn) -> list[Output]:
        entries: list[dict[str, Any]] = []
        for week in issue_weeks(await store.issue_times(conn))[:20]:
            views, flipped = await self.week_contents(conn, week)
            moments = [*(v.announced_at for v in views), *(f["received_at"] for f in flipped)]
            newest = max(moments, default=datetime.now(UTC))
            entries.append({"week": week, "views": views, "flipped": flipped, "updated": newest})
        updated = max((e["updated"] for e in entries), default=datetime.now(UTC))
        atom = self.env.get_template("feed.atom").render(
            base_url=self.base_url, entries=entries, updated=updated
        )
        return [Output("weekly/feed.atom", atom.encode(), "application/atom+xml", "feed")]
