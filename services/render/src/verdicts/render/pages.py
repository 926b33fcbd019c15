"""Pages from the read model: HTML (Jinja2, autoescaped: every tool and review text is data), a
JSON document beside each page, JSON-LD, an Atom feed and SVG badges."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from verdicts.platform.db import Conn
from verdicts.render import store
from verdicts.render.views import (
    ToolView,
    canonical_pair,
    gap,
    persona_name,
    personas_of,
    pricing_read,
    reviewer_split,
    slugify,
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


def etag_of(body: bytes) -> str:
    """The strong ETag of a published file: what it holds, not when it was written."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def comparison_path(a: str, b: str) -> str:
    a, b = canonical_pair(a, b)
    return f"compare/{a}-vs-{b}/"


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value


def json_ld(data: dict[str, Any]) -> Markup:
    """JSON-LD that cannot close its <script> element, whatever the text inside."""
    text = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
    return Markup(text.replace("&", "\\u0026"))  # noqa: S704 - escaped above


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}%"


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
            "persona_name": persona_name,
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
                f"{path}index.json", json.dumps(_plain(data), indent=1).encode(), "application/json", "json"
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

    async def comparison(self, conn: Conn, a: str, b: str) -> list[Output]:
        left, right = await store.tool_view(conn, a), await store.tool_view(conn, b)
        if left is None or right is None:
            return []
        views = [left, right]
        data = {
            "a": _tool_data(left),
            "b": _tool_data(right),
            "pricing_read": pricing_read(left.tool, right.tool),
            "gaps": {v.slug: _plain(gap(v, self.gap_flag_points)) for v in views},
        }
        return self._html(
            "compare.html",
            comparison_path(a, b),
            "comparison",
            data,
            a=left,
            b=right,
            views=views,
            personas=personas_of(left, right),
            splits={v.slug: reviewer_split(v) for v in views},
            gaps={v.slug: gap(v, self.gap_flag_points) for v in views},
            pricing=pricing_read(left.tool, right.tool),
            jsonld=json_ld(_comparison_ld(views, self.base_url)),
        )

    async def tool(self, conn: Conn, slug: str) -> list[Output]:
        view = await store.tool_view(conn, slug)
        if view is None:
            return []
        rivals = [
            r["b"] if r["a"] == slug else r["a"]
            for r in await conn.fetch(f"SELECT a, b FROM {store.SCHEMA}.pairs WHERE a = $1 OR b = $1", slug)
        ]
        return self._html(
            "tool.html",
            f"tools/{slug}/",
            "tool",
            _tool_data(view) | {"rivals": rivals},
            t=view,
            rivals=sorted(rivals),
            split=reviewer_split(view),
            gap=gap(view, self.gap_flag_points),
            personas=personas_of(view),
            jsonld=json_ld(_tool_ld(view, self.base_url)),
        )

    async def badge(self, conn: Conn, slug: str) -> list[Output]:
        view = await store.tool_view(conn, slug)
        if view is None:
            return []
        label = (
            "reviewing"
            if view.verdict is None
            else f"{view.verdict} {pct(view.panel.ship_pct if view.panel else None)}"
        )
        svg = self.env.get_template("badge.svg").render(
            label=label, verdict=view.verdict, name=view.tool.name
        )
        return [Output(f"badges/{slug}.svg", svg.encode(), "image/svg+xml", "badge")]

    async def category(self, conn: Conn, category: str) -> list[Output]:
        views = [
            v for s in await store.slugs(conn, category=category) if (v := await store.tool_view(conn, s))
        ]
        if not views:
            return []
        views.sort(key=lambda v: (-(v.panel.ship_pct or 0) if v.panel else 1, v.tool.name))
        return self._html(
            "category.html",
            f"categories/{slugify(category)}/",
            "category",
            {"category": category, "tools": [_tool_data(v) for v in views]},
            category=category,
            views=views,
        )

    async def home(self, conn: Conn) -> list[Output]:
        views = [v for s in await store.latest_slugs(conn, 24) if (v := await store.tool_view(conn, s))]
        cats = await store.categories(conn)
        weeks = await store.issue_weeks(conn)
        return self._html(
            "home.html",
            "",
            "home",
            {"latest": [_tool_data(v) for v in views], "categories": cats, "issues": weeks},
            views=views,
            categories=cats,
            weeks=weeks,
        )

    async def issue(self, conn: Conn, week: str) -> list[Output]:
        announced, flips = await store.week_of(conn, week)
        views = [v for s in announced if (v := await store.tool_view(conn, s))]
        names = {
            s: (v.tool.name if (v := await store.tool_view(conn, s)) else s)
            for s in {f["slug"] for f in flips}
        }
        flipped = [f | {"name": names[f["slug"]]} for f in flips]
        return self._html(
            "issue.html",
            f"weekly/{week}/",
            "issue",
            {"week": week, "announced": [_tool_data(v) for v in views], "flipped": flipped},
            week=week,
            views=views,
            flipped=flipped,
        )

    async def feed(self, conn: Conn) -> list[Output]:
        entries: list[dict[str, Any]] = []
        for week in (await store.issue_weeks(conn))[:20]:
            announced, flips = await store.week_of(conn, week)
            views = [v for s in announced if (v := await store.tool_view(conn, s))]
            newest = max((v.announced_at for v in views), default=datetime.now(UTC))
            entries.append({"week": week, "views": views, "flips": len(flips), "updated": newest})
        updated = max((e["updated"] for e in entries), default=datetime.now(UTC))
        atom = self.env.get_template("feed.atom").render(
            base_url=self.base_url, entries=entries, updated=updated
        )
        return [Output("weekly/feed.atom", atom.encode(), "application/atom+xml", "feed")]


def _tool_data(view: ToolView) -> dict[str, Any]:
    return {
        "tool": view.tool.model_dump(mode="json"),
        "version": view.version,
        "panel": _plain(view.panel),
        "verdict": view.verdict,
        "community": _plain(view.community),
        "reviews": [_plain(view.reviews[p]) for p in personas_of(view)],
    }


def _rating(view: ToolView) -> dict[str, Any] | None:
    if view.panel is None or view.panel.ship_pct is None:
        return None
    return {
        "@type": "AggregateRating",
        "ratingValue": round(view.panel.ship_pct, 1),
        "bestRating": 100,
        "worstRating": 0,
        "ratingCount": view.panel.ship + view.panel.skip,
    }


def _tool_ld(view: ToolView, base_url: str) -> dict[str, Any]:
    reviews = [
        {
            "@type": "Review",
            "author": {"@type": "Person", "name": f"Verdicts {r.persona_name} reviewer (AI)"},
            "reviewBody": r.review,
            "datePublished": r.reviewed_on.isoformat(),
            "reviewRating": {
                "@type": "Rating",
                "ratingValue": 1 if r.verdict == "ship" else 0,
                "bestRating": 1,
                "worstRating": 0,
            },
        }
        for r in view.reviews.values()
        if r.status == "completed"
    ]
    item: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "SoftwareApplication",
        "name": view.tool.name,
        "applicationCategory": view.tool.category,
        "url": f"{base_url}/tools/{view.slug}/",
        "review": reviews,
    }
    if (rating := _rating(view)) is not None:
        item["aggregateRating"] = rating
    return item


def _comparison_ld(views: list[ToolView], base_url: str) -> dict[str, Any]:
    return {"@context": "https://schema.org", "@graph": [_tool_ld(v, base_url) for v in views]}
