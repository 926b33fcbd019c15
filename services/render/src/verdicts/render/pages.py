"""Pages from the read model: HTML (Jinja2, autoescaped: every tool and review text is data), a
JSON document beside each page, JSON-LD, an Atom feed and SVG badges. What a page shows is
decided in ``domain``; this module reads the views and fills the templates."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import msgspec
from jinja2 import Environment, PackageLoader, StrictUndefined, Template, select_autoescape
from markupsafe import Markup

from verdicts.platform.db import Conn
from verdicts.render import store
from verdicts.render.domain import (
    RankingView,
    ReviewView,
    SplitLine,
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
    split_data,
    standing_text,
    tool_data,
    tool_ld,
    tool_pages,
    tools_shown,
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


T = TypeVar("T")

_JSON = msgspec.json.Encoder(enc_hook=plain, decimal_format="string")


def page_json(data: Any) -> bytes:
    """The JSON beside a page: UTF-8, keys in their order, floats as Python writes them (shortest
    round trip). ``data`` is plain (``plain``, ``tool_data``): a datetime left in it would be
    written with "Z", not as ``plain`` writes it. Parts already encoded come as ``msgspec.Raw``."""
    return _JSON.encode(data)


def _ld_escaped(text: bytes) -> bytes:
    return text.replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026")


def ld_part(data: Any) -> msgspec.Raw:
    """JSON-LD data encoded and escaped as ``json_ld`` does, to be put in a larger JSON-LD."""
    return msgspec.Raw(_ld_escaped(_JSON.encode(data)))


def json_ld(data: Any) -> Markup:
    """JSON-LD that cannot close its <script> element, whatever the text inside ("<", ">" and "&"
    written as JSON escapes; parts made by ``ld_part`` are escaped already)."""
    return Markup(_ld_escaped(_JSON.encode(data)).decode())  # noqa: S704 - escaped above


class Views:
    """What a batch of pages reads of the read model: each tool's view and each category's ranking
    read once, tools asked for together read together (``store.tool_views``), so a batch of
    pages costs a few queries rather than a few per page."""

    SEEN_LIMIT = 5_000
    """Views kept in ``seen`` at most: past it, the older half is dropped."""

    def __init__(self, conn: Conn, seen: dict[str, ToolView] | None = None) -> None:
        """``seen``: views read by earlier batches (``Site.seen``); one whose revision is read
        again is taken as it is rather than parsed again (``store.tool_views``)."""
        self.conn = conn
        self.seen = seen
        self._tools: dict[str, ToolView | None] = {}
        self._rankings: dict[str, RankingView | None] = {}
        self._pairs: dict[str, list[tuple[str, str]]] = {}

    async def load(self, slugs: Iterable[str]) -> None:
        """Read the views of ``slugs`` not read yet, together."""
        missing = [s for s in dict.fromkeys(slugs) if s not in self._tools]
        if missing:
            found = await store.tool_views(self.conn, missing, self.seen)
            self._tools |= {s: found.get(s) for s in missing}
            if self.seen is not None:
                if len(self.seen) + len(found) > self.SEEN_LIMIT:
                    for old in list(itertools.islice(self.seen, len(self.seen) // 2)):
                        del self.seen[old]
                self.seen |= found

    async def prepare(self, pages: Iterable[str]) -> None:
        """Read together what a batch of page keys shows: its tools, and the tool pages' pairs."""
        pages = list(pages)
        await self.load(tools_shown(pages))
        slugs = [s for s in tool_pages(pages) if s not in self._pairs]
        if slugs:
            self._pairs |= await store.pairs_of_each(self.conn, slugs)

    async def pairs_of(self, slug: str) -> list[tuple[str, str]]:
        """The comparisons kept current that include the tool (``store.pairs_of``)."""
        if slug not in self._pairs:
            self._pairs[slug] = await store.pairs_of(self.conn, slug)
        return self._pairs[slug]

    async def tool(self, slug: str) -> ToolView | None:
        await self.load([slug])
        return self._tools[slug]

    async def tools(self, slugs: Iterable[str]) -> list[ToolView]:
        """The views of the known tools among ``slugs``, in their order."""
        slugs = list(slugs)
        await self.load(slugs)
        return [v for s in slugs if (v := self._tools[s]) is not None]

    async def ranking(self, category: str) -> RankingView | None:
        if category not in self._rankings:
            self._rankings[category] = await store.ranking(self.conn, category)
        return self._rankings[category]


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
            auto_reload=False,  # package files: compiled once, never checked again
        )
        self.env.filters["pct"] = pct
        self.env.globals |= {
            "comparison_path": comparison_path,
            "slugify": slugify,
        }
        macros = cast(Any, self.env.get_template("macros.html").module)
        self.card_html: Callable[[ToolView], Markup] = macros.card
        self.review_html: Callable[[ReviewView | None], Markup] = macros.review
        self.split_card_html: Callable[[ToolView, dict[str, Any]], Markup] = macros.split_card
        self.no_review = self.review_html(None)
        self._templates: dict[str, Template] = {}
        self._made: dict[tuple[str, str], tuple[ToolView | str, Any]] = {}
        self.seen: dict[str, ToolView] = {}
        """The views the re-render loop's batches read (``Views``), kept to be known again."""

    # A tool's parts shown on many pages (a tool is in ~8 comparisons, its category, home...) are
    # made once per revision of its view: its card and reviews as HTML (escaped by the macros,
    # autoescape on, kept as ``Markup`` that the page templates insert as they are), its JSON and
    # JSON-LD already encoded (``msgspec.Raw``).

    MADE_LIMIT = 20_000
    """Parts kept at most (4 per tool): past it, the older half is dropped."""

    def made(self, what: str, view: ToolView, make: Callable[[ToolView], T]) -> T:
        """``make(view)``, or what it gave for a view of the same revision (``ToolView.revision``:
        the same values read, so the same view); without a revision, for this very view object
        only. A tool that changed has a new revision: its parts are made again."""
        key = (what, view.slug)
        found = self._made.get(key)
        if found is not None and (found[0] is view or (view.revision and found[0] == view.revision)):
            return found[1]  # type: ignore[no-any-return]
        value = make(view)
        if len(self._made) >= self.MADE_LIMIT:
            for old in list(itertools.islice(self._made, len(self._made) // 2)):
                del self._made[old]
        self._made[key] = (view.revision or view, value)
        return value

    def card(self, view: ToolView) -> Markup:
        return self.made("card", view, self.card_html)

    def reviews(self, view: ToolView) -> dict[str, Markup]:
        """Each persona's review of the tool as HTML (``no_review`` for a persona without one)."""
        return self.made("reviews", view, lambda v: {p: self.review_html(r) for p, r in v.reviews.items()})

    def split(self, view: ToolView) -> dict[str, list[SplitLine]]:
        return self.made("split", view, reviewer_split)

    def split_card(self, view: ToolView) -> Markup:
        """Who said ship and who said skip, as the comparison page shows it for the tool."""
        return self.made("split_card", view, lambda v: self.split_card_html(v, self.split(v)))

    def tool_json(self, view: ToolView) -> msgspec.Raw:
        return self.made("json", view, lambda v: msgspec.Raw(page_json(tool_data(v))))

    def tool_ld(self, view: ToolView) -> msgspec.Raw:
        return self.made("ld", view, lambda v: ld_part(tool_ld(v, self.base_url)))

    def template(self, name: str) -> Template:
        """A page template, looked up once (``Environment.get_template`` checks its cache each time)."""
        if (found := self._templates.get(name)) is None:
            found = self._templates[name] = self.env.get_template(name)
        return found

    def _html(
        self, template: str, path: str, kind: str, data: dict[str, Any], **context: Any
    ) -> list[Output]:
        html = self.template(template).render(
            base_url=self.base_url, json_href=f"/{path}index.json", **context
        )
        return [
            Output(f"{path}index.html", html.encode(), "text/html; charset=utf-8", kind),
            Output(f"{path}index.json", page_json(data), "application/json", "json"),
        ]

    async def render(self, conn: Conn, page: str, views: Views | None = None) -> list[Output]:
        """A page's files; ``views`` shared by a batch of pages reads each tool once."""
        views = Views(conn) if views is None else views
        kind, _, rest = page.partition(":")
        if kind == "compare":
            a, b = rest.split(":", 1)
            return await self.comparison(conn, a, b, views)
        if kind == "tool":
            return await self.tool(conn, rest, views)
        if kind == "badge":
            return await self.badge(conn, rest, views)
        if kind == "category":
            return await self.category(conn, rest, views)
        if kind == "issue":
            return await self.issue(conn, rest, views)
        if kind == "home":
            return await self.home(conn, views)
        if kind == "feed":
            return await self.feed(conn, views)
        raise ValueError(f"unknown page {page!r}")

    async def comparison_data(self, conn: Conn, a: str, b: str) -> dict[str, Any] | None:
        """A comparison's JSON from the read model (``None`` when a tool is not known)."""
        found = await store.tool_views(conn, [a, b])
        left, right = found.get(a), found.get(b)
        if left is None or right is None:
            return None
        return comparison_data(left, right, self.gap_flag_points, self.base_url)

    async def comparison(self, conn: Conn, a: str, b: str, read: Views | None = None) -> list[Output]:
        read = Views(conn) if read is None else read
        await read.load([a, b])
        left, right = await read.tool(a), await read.tool(b)
        if left is None or right is None:
            return []
        views = [left, right]
        rankings = {c: await read.ranking(c) for c in {v.tool.category for v in views}}
        standings = {v.slug: standing_text(rankings[v.tool.category], v.slug, v.tool.category) for v in views}
        reviews_a, reviews_b = self.reviews(left), self.reviews(right)
        no = self.no_review
        personas = personas_of(left, right)
        split = lambda v: self.made("split_data", v, split_data)  # noqa: E731
        data = comparison_data(
            left, right, self.gap_flag_points, self.base_url, self.tool_json, split, personas
        )
        return self._html(
            "compare.html",
            comparison_path(a, b),
            "comparison",
            data | {"standings": standings},
            a=left,
            b=right,
            card_a=self.card(left),
            card_b=self.card(right),
            views=views,
            scorecard=[(p, reviews_a.get(p.id, no), reviews_b.get(p.id, no)) for p in personas],
            split_cards={v.slug: self.split_card(v) for v in views},
            gaps={v.slug: gap(v, self.gap_flag_points) for v in views},
            pricing=pricing_read(left.tool, right.tool),
            standings=standings,
            jsonld=json_ld(comparison_ld(views, self.base_url, lambda v, _: self.tool_ld(v))),
        )

    async def tool(self, conn: Conn, slug: str, read: Views | None = None) -> list[Output]:
        read = Views(conn) if read is None else read
        view = await read.tool(slug)
        if view is None:
            return []
        rivals = [b if a == slug else a for a, b in await read.pairs_of(slug)]
        reviews = self.reviews(view)
        return self._html(
            "tool.html",
            f"tools/{slug}/",
            "tool",
            tool_data(view) | {"rivals": rivals},
            t=view,
            card=self.card(view),
            rivals=sorted(rivals),
            split=self.split(view),
            gap=gap(view, self.gap_flag_points),
            panel=[(p, reviews.get(p.id, self.no_review)) for p in personas_of(view)],
            jsonld=json_ld(self.tool_ld(view)),
        )

    async def badge(self, conn: Conn, slug: str, read: Views | None = None) -> list[Output]:
        view = await (Views(conn) if read is None else read).tool(slug)
        if view is None:
            return []
        svg = self.template("badge.svg").render(
            label=badge_label(view), verdict=view.verdict, name=view.tool.name
        )
        return [Output(f"badges/{slug}.svg", svg.encode(), "image/svg+xml", "badge")]

    async def category(self, conn: Conn, category: str, read: Views | None = None) -> list[Output]:
        read = Views(conn) if read is None else read
        views = await read.tools(await store.slugs(conn, category=category))
        if not views:
            return []
        views = by_panel_ship(views)
        ranking = await read.ranking(category)
        return self._html(
            "category.html",
            f"categories/{slugify(category)}/",
            "category",
            {
                "category": category,
                "tools": [self.tool_json(v) for v in views],
                "ranking": plain(ranking),
            },
            category=category,
            views=views,
            ranking=ranking,
            chart=ranking_chart(ranking.items) if ranking and ranking.items else None,
        )

    async def home(self, conn: Conn, read: Views | None = None) -> list[Output]:
        """Latest comparisons, then latest verdicts, categories and weekly issues; while panels are
        still running, how far they are (and on an empty site, how to add tools)."""
        read = Views(conn) if read is None else read
        latest, latest_pairs = await store.latest_slugs(conn, 24), await store.latest_pairs(conn, 12)
        await read.load([*latest, *(s for pair in latest_pairs for s in pair)])
        views = await read.tools(latest)
        pairs = []
        for a, b in latest_pairs:
            left, right = await read.tool(a), await read.tool(b)
            if left is not None and right is not None:
                pairs.append((left, right))
        complete, total = await store.panel_progress(conn)
        cats = await store.categories(conn)
        weeks = issue_weeks(await store.issue_times(conn))
        data = {
            "progress": {"panels_complete": complete, "tools": total},
            "comparisons": [
                {
                    "path": "/" + comparison_path(a.slug, b.slug),
                    "a": self.tool_json(a),
                    "b": self.tool_json(b),
                }
                for a, b in pairs
            ],
            "latest": [self.tool_json(v) for v in views],
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
    async def week_contents(
        conn: Conn, week: str, read: Views | None = None
    ) -> tuple[list[ToolView], list[dict[str, Any]]]:
        """A week's announced tools and its flipped verdicts (each with its tool's name)."""
        read = Views(conn) if read is None else read
        announced, flips = await store.week_of(conn, *week_bounds(week))
        await read.load([*announced, *(f["slug"] for f in flips)])
        views = await read.tools(announced)
        names = {s: (v.tool.name if (v := await read.tool(s)) else s) for s in {f["slug"] for f in flips}}
        return views, [f | {"name": names[f["slug"]]} for f in flips]

    async def issue(self, conn: Conn, week: str, read: Views | None = None) -> list[Output]:
        read = Views(conn) if read is None else read
        views, flipped = await self.week_contents(conn, week, read)
        return self._html(
            "issue.html",
            f"weekly/{week}/",
            "issue",
            {"week": week, "announced": [self.tool_json(v) for v in views], "flipped": plain(flipped)},
            week=week,
            views=views,
            flipped=flipped,
        )

    async def feed(self, conn: Conn, read: Views | None = None) -> list[Output]:
        read = Views(conn) if read is None else read
        entries: list[dict[str, Any]] = []
        for week in issue_weeks(await store.issue_times(conn))[:20]:
            views, flipped = await self.week_contents(conn, week, read)
            moments = [*(v.announced_at for v in views), *(f["received_at"] for f in flipped)]
            newest = max(moments, default=datetime.now(UTC))
            entries.append({"week": week, "views": views, "flipped": flipped, "updated": newest})
        updated = max((e["updated"] for e in entries), default=datetime.now(UTC))
        atom = self.template("feed.atom").render(base_url=self.base_url, entries=entries, updated=updated)
        return [Output("weekly/feed.atom", atom.encode(), "application/atom+xml", "feed")]
