"""render's rules, pure: what a page shows and when it must be rendered again.

Pairs and their canonical order, page keys and the pages an event touches, the published file
a request path names and whether the caller's copy is current, personas in panel order with
their display names, the reviewer split, the pricing read, the panel vs community gap, rivals,
ISO weeks, and the plain data (JSON, JSON-LD) built from a tool's view.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

from verdicts.contracts import PanelVerdictUpdated, Tool

# --- pairs, pages and paths -------------------------------------------------------------------


def slugify(text: str) -> str:
    """A category's URL segment ("Développeur Tools!" → "developpeur-tools")."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "uncategorized"


def canonical_pair(a: str, b: str) -> tuple[str, str]:
    """One order per pair (alphabetical by slug): the other order redirects to it."""
    return (a, b) if a < b else (b, a)


def canonical_pairs(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Distinct pairs of two different tools, each in canonical order."""
    return sorted({canonical_pair(a, b) for a, b in pairs if a != b})


def parse_pair(text: str, known: Iterable[str]) -> tuple[str, str] | None:
    """Split "a-vs-b" where both sides are known slugs (a slug may itself contain "-vs-")."""
    slugs = set(known)
    start = 0
    while (at := text.find("-vs-", start)) != -1:
        a, b = text[:at], text[at + 4 :]
        if a in slugs and b in slugs:
            return a, b
        start = at + 1
    return None


SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")
"""A tool's slug, as ingest accepts it."""


def pair_splits(text: str) -> list[tuple[str, str]]:
    """Every way to read "a-vs-b" as two well-formed slugs (a slug may itself contain "-vs-")."""
    splits = []
    start = 0
    while (at := text.find("-vs-", start)) != -1:
        a, b = text[:at], text[at + 4 :]
        if SLUG.fullmatch(a) and SLUG.fullmatch(b):
            splits.append((a, b))
        start = at + 1
    return splits


def unknown_in_pair(text: str, known: Iterable[str]) -> str | None:
    """A slug of the pair that is not known (``None``: both known, or not a well-formed pair); a
    reading with one known side is preferred ("a-vs-b-vs-c" with "a-vs-b" known names "c")."""
    slugs = set(known)
    splits = sorted(pair_splits(text), key=lambda pair: not (set(pair) & slugs))
    if not splits:
        return None
    return next((s for s in splits[0] if s not in slugs), None)


def names_one_tool_twice(text: str, found: tuple[str, str] | None) -> bool:
    """Whether the text names one tool twice ("a-vs-a"), known or not."""
    first, sep, second = text.partition("-vs-")
    return (found is not None and found[0] == found[1]) or (bool(sep) and first == second)


def full_category(requested: dict[str, int], limit: int) -> str | None:
    """A category already holding ``limit`` requested pairs, which refuses one more (a pair of
    tools from two categories counts in both; rivals are not counted, ``rivals`` bounds them)."""
    return next((c for c, count in sorted(requested.items()) if count >= limit), None)


def iso_week(day: date | datetime) -> str:
    """The ISO week ("2026-W48") a day or moment falls in, in UTC (a naive moment is taken as UTC)."""
    if isinstance(day, datetime) and day.tzinfo is not None:
        day = day.astimezone(UTC)
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def issue_weeks(announced: Iterable[datetime]) -> list[str]:
    """The weekly issues: the ISO weeks tools were announced in, newest first."""
    return sorted({iso_week(at) for at in announced}, reverse=True)


def week_bounds(week: str) -> tuple[datetime, datetime]:
    """An issue's week ("2026-W48") as [Monday 00:00 UTC, next Monday 00:00 UTC): the same on
    every server, whatever its time zone."""
    year, number = week.split("-W")
    monday = date.fromisocalendar(int(year), int(number), 1)
    start = datetime.combine(monday, time.min, tzinfo=UTC)
    return start, start + timedelta(days=7)


def comparison_path(a: str, b: str) -> str:
    """Where a pair's comparison is published (canonical order), relative to the site root."""
    a, b = canonical_pair(a, b)
    return f"compare/{a}-vs-{b}/"


def comparison_page(a: str, b: str) -> str:
    """The page key of a pair's comparison (canonical order)."""
    a, b = canonical_pair(a, b)
    return f"compare:{a}:{b}"


def tools_shown(pages: Iterable[str]) -> list[str]:
    """The tools a batch of page keys is about (a comparison's two, a tool page's or badge's one):
    read together before the batch renders."""
    slugs: dict[str, None] = {}
    for page in pages:
        kind, _, rest = page.partition(":")
        if kind == "compare":
            slugs |= dict.fromkeys(rest.split(":", 1))
        elif kind in ("tool", "badge"):
            slugs[rest] = None
    return list(slugs)


def tool_pages(pages: Iterable[str]) -> list[str]:
    """The tools whose own page is among ``pages`` (each lists the tool's comparisons)."""
    return [rest for kind, _, rest in (p.partition(":") for p in pages) if kind == "tool"]


def pages_touched(
    slug: str, category: str, announced_at: datetime, pairs: Iterable[tuple[str, str]]
) -> list[str]:
    """Every page that shows something of this tool: re-render them when it changes."""
    return [
        f"tool:{slug}",
        f"badge:{slug}",
        f"category:{category}",
        "home",
        f"issue:{iso_week(announced_at)}",
        "feed",
        *(comparison_page(a, b) for a, b in pairs),
    ]


def rivals_may_change(subject: str) -> bool:
    """A panel verdict means new reviews, and reviews name competitors: rivals may change."""
    return subject == PanelVerdictUpdated.SUBJECT


def page_file(path: str) -> str:
    """The published file a request path names: a directory (or extensionless) path is its index."""
    if path == "" or path.endswith("/") or "." not in path.rsplit("/", 1)[-1]:
        return path.rstrip("/") + "/index.html" if path else "index.html"
    return path


def etag_of(body: bytes) -> str:
    """The strong ETag of a published file: what it holds, not when it was written."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def not_modified(
    if_none_match: str | None, if_modified_since: str | None, etag: str, modified: datetime
) -> bool:
    """Whether the caller's copy is current (If-None-Match wins over If-Modified-Since)."""
    if if_none_match is not None:
        return etag in [m.strip() for m in if_none_match.split(",")] or if_none_match.strip() == "*"
    if if_modified_since is not None:
        try:
            return modified <= parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
    return False


# --- what the read model holds, as views ------------------------------------------------------


def humanised(persona: str) -> str:
    """A persona's name when its review did not carry one (events from before persona_name)."""
    return persona.replace("-", " ").capitalize()


@dataclass(frozen=True, slots=True)
class ReviewView:
    persona: str
    persona_name: str
    persona_order: int | None
    status: str
    verdict: str | None
    review: str | None
    key_points: tuple[str, ...]
    confidence: float | None
    failure_reason: str | None
    model: str | None
    prompt_sha256: str | None
    reviewed_on: date
    route: str | None = None
    prompt_template_version: str | None = None
    route_note: str | None = None
    withheld_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Panel:
    version: int
    run: int
    ship: int
    skip: int
    failed: int
    ship_pct: float | None
    partial: bool


@dataclass(frozen=True, slots=True)
class Community:
    ship: int
    skip: int
    ship_pct: float | None
    low: float | None
    high: float | None
    provisional: bool


@dataclass(frozen=True, slots=True)
class ToolView:
    tool: Tool
    version: int
    announced_at: datetime
    panel: Panel | None = None
    community: Community | None = None
    reviews: dict[str, ReviewView] = field(default_factory=dict)
    revision: str = ""
    """What the view was made of, as a digest (``store.tool_views``): views of one revision are
    the same view, so what is made of one (a card, its JSON) holds for the other. Empty where
    unknown (a view made otherwise); a view changed by hand must not keep its revision."""

    @property
    def slug(self) -> str:
        return self.tool.slug

    @property
    def verdict(self) -> str | None:
        """The panel's call: ship at 50% or more of judged reviews."""
        if self.panel is None or self.panel.ship_pct is None:
            return None
        return "ship" if self.panel.ship_pct >= 50 else "skip"


def review_view(body: dict[str, Any], received: datetime) -> ReviewView:
    """A stored review (the event's fields render keeps) as a view; names fall back to the id."""
    provenance = body.get("provenance") or {}
    return ReviewView(
        persona=body["persona"],
        persona_name=body.get("persona_name") or humanised(body["persona"]),
        persona_order=body.get("persona_order"),
        status=body["status"],
        verdict=body.get("verdict"),
        review=body.get("review"),
        key_points=tuple(body.get("key_points") or ()),
        confidence=body.get("confidence"),
        failure_reason=body.get("failure_reason"),
        model=provenance.get("model"),
        prompt_sha256=provenance.get("prompt_sha256"),
        reviewed_on=received.date(),
        route=provenance.get("route"),
        prompt_template_version=provenance.get("prompt_template_version"),
        route_note=body.get("route_note"),
        withheld_fields=tuple(body.get("withheld_fields") or ()),
    )


@dataclass(frozen=True, slots=True)
class Persona:
    """A reviewer seat on the pages: its id, display name and panel position (if known)."""

    id: str
    name: str
    order: int | None


def personas_of(*tools: ToolView) -> list[Persona]:
    """The personas that reviewed any of ``tools``, in panel order; unplaced ones after, by id."""
    seen: dict[str, Persona] = {}
    for review in (r for view in tools for r in view.reviews.values()):
        known = seen.get(review.persona)
        if known is None:
            seen[review.persona] = Persona(review.persona, review.persona_name, review.persona_order)
            continue
        orders = [o for o in (known.order, review.persona_order) if o is not None]
        carried = review.persona_name != humanised(review.persona)
        name = review.persona_name if carried else known.name
        seen[review.persona] = Persona(review.persona, name, min(orders, default=None))
    return sorted(seen.values(), key=lambda p: (p.order is None, p.order or 0, p.id))


# --- what a page says -------------------------------------------------------------------------


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}%"


@dataclass(frozen=True, slots=True)
class SplitLine:
    persona: str
    verdict: str
    key_point: str | None


def reviewer_split(view: ToolView) -> dict[str, list[SplitLine]]:
    """Who said ship and who said skip (by display name), each with their first key point."""
    split: dict[str, list[SplitLine]] = {"ship": [], "skip": []}
    for persona in personas_of(view):
        review = view.reviews[persona.id]
        if review.verdict in split:
            split[review.verdict].append(
                SplitLine(persona.name, review.verdict, review.key_points[0] if review.key_points else None)
            )
    return split


def _price(tool: Tool) -> str:
    pricing = tool.pricing
    entry = pricing.entry or ("Free" if pricing.entry_price_usd == 0 else None)
    if entry is None and pricing.entry_price_usd is not None:
        entry = f"${pricing.entry_price_usd:,.2f}" + (f" {pricing.unit}" if pricing.unit else "")
    return f"{entry or 'price not published'} ({pricing.model.value})"


def pricing_read(a: Tool, b: Tool) -> str:
    """One paragraph: what each costs to start and which is cheaper to try."""
    text = f"{a.name}: {_price(a)}. {b.name}: {_price(b)}."
    pa, pb = a.pricing.entry_price_usd, b.pricing.entry_price_usd
    if pa is None or pb is None:
        return text + " One of them does not publish an entry price, so compare on the vendor's page."
    if pa == pb:
        cost = "nothing" if pa == Decimal(0) else f"${pa:,.2f}"
        return text + f" Both cost {cost} to start; decide on the reviews, not the price."
    cheaper, dearer = (a, b) if pa < pb else (b, a)
    return text + f" {cheaper.name} is the cheaper way to start; {dearer.name} costs more up front."


@dataclass(frozen=True, slots=True)
class Gap:
    points: float | None
    flagged: bool

    @property
    def direction(self) -> str:
        if self.points is None:
            return "not enough votes yet"
        if abs(self.points) < 1:
            return "panel and community agree"
        return (
            "community is warmer than the panel" if self.points > 0 else "panel is warmer than the community"
        )


def gap(view: ToolView, flag_from: float) -> Gap:
    """Community ship % minus panel ship %, flagged when large (and the community not provisional)."""
    if view.panel is None or view.panel.ship_pct is None or view.community is None:
        return Gap(None, False)
    if view.community.ship_pct is None:
        return Gap(None, False)
    points = round(view.community.ship_pct - view.panel.ship_pct, 1)
    return Gap(points, abs(points) >= flag_from and not view.community.provisional)


def rivals(tool: Tool, review_texts: Iterable[str | None], others: Sequence[Tool], limit: int) -> list[str]:
    """Nearest rivals in the tool's category: tools its reviews name first, then shared tags."""
    said = "\n".join((text or "").casefold() for text in review_texts)
    candidates = [o for o in others if o.slug != tool.slug and o.category == tool.category]
    tags = set(tool.tags)

    def closeness(other: Tool) -> tuple[int, int, str]:
        mentioned = other.name.casefold() in said
        return (0 if mentioned else 1, -len(tags & set(other.tags)), other.slug)

    return [o.slug for o in sorted(candidates, key=closeness)[:limit]]


def by_panel_ship(views: Iterable[ToolView]) -> list[ToolView]:
    """A category's order: highest panel ship % first, unreviewed last, then by name."""
    return sorted(views, key=lambda v: (-(v.panel.ship_pct or 0) if v.panel else 1, v.tool.name))


def badge_label(view: ToolView) -> str:
    if view.verdict is None:
        return "reviewing"
    return f"{view.verdict} {pct(view.panel.ship_pct if view.panel else None)}"


# --- plain data: the JSON beside each page and its JSON-LD ------------------------------------


_SCALARS = frozenset({str, int, float, bool, type(None)})
_FIELDS: dict[type, tuple[str, ...] | None] = {}
"""Each type met by ``plain``: its dataclass field names, or ``None`` when not a dataclass."""


def _field_names(kind: type) -> tuple[str, ...] | None:
    if kind not in _FIELDS:
        dataclass = dataclasses.is_dataclass(kind)
        _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(kind)) if dataclass else None
    return _FIELDS[kind]


def plain(value: Any) -> Any:
    """Views as JSON-ready data (dataclasses, dates, decimals and models included)."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        return {str(k): plain(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [plain(v) for v in value]
    names = _field_names(kind)
    if names is not None:
        return {name: plain(getattr(value, name)) for name in names}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value


def tool_data(view: ToolView) -> dict[str, Any]:
    """A tool's JSON: record, panel, verdict, community and reviews in panel order."""
    return {
        "tool": view.tool.model_dump(mode="json"),
        "version": view.version,
        "panel": plain(view.panel),
        "verdict": view.verdict,
        "community": plain(view.community),
        "reviews": [plain(view.reviews[p.id]) for p in personas_of(view)],
    }


def gap_data(value: Gap) -> dict[str, Any]:
    return {"points": value.points, "flagged": value.flagged, "direction": value.direction}


def scorecard(
    left: ToolView, right: ToolView, personas: Sequence[Persona] | None = None
) -> list[dict[str, Any]]:
    """The reviewer scorecard: each persona in panel order (``personas_of`` both, unless given),
    and how it judged each tool."""

    def cell(view: ToolView, persona: str) -> dict[str, Any] | None:
        review = view.reviews.get(persona)
        return None if review is None else {"status": review.status, "verdict": review.verdict}

    return [
        {"persona": p.id, "name": p.name, "a": cell(left, p.id), "b": cell(right, p.id)}
        for p in (personas_of(left, right) if personas is None else personas)
    ]


def split_data(view: ToolView) -> dict[str, Any]:
    """The reviewer split as JSON."""
    return plain(reviewer_split(view))  # type: ignore[no-any-return]


def comparison_data(
    left: ToolView,
    right: ToolView,
    flag_from: float,
    base_url: str,
    data: Callable[[ToolView], Any] = tool_data,
    split: Callable[[ToolView], Any] = split_data,
    personas: Sequence[Persona] | None = None,
) -> dict[str, Any]:
    """A comparison's JSON (the page's index.json and the partner API): what its page shows.
    ``data`` and ``split`` give each tool's parts (``tool_data``, ``split_data``, or the same made
    once for many pages); ``personas``, those of both tools when the page has them already."""
    path = "/" + comparison_path(left.slug, right.slug)
    views = (left, right)
    return {
        "path": path,
        "url": base_url + path,
        "a": data(left),
        "b": data(right),
        "pricing_read": pricing_read(left.tool, right.tool),
        "gaps": {v.slug: gap_data(gap(v, flag_from)) for v in views},
        "scorecard": scorecard(left, right, personas),
        "splits": {v.slug: split(v) for v in views},
    }


AI_PANEL_NOTE = (
    "From Verdicts' review panel: four AI reviewer personas (language models, not people), "
    "each answering ship (1) or skip (0); the aggregate is the share of ship verdicts in percent."
)


def panel_author(base_url: str) -> dict[str, Any]:
    """Who wrote a review: the panel, an organisation; AI personas are not ``Person``s."""
    return {"@type": "Organization", "name": "Verdicts AI review panel", "url": f"{base_url}/"}


def _rating(view: ToolView) -> dict[str, Any] | None:
    if view.panel is None or view.panel.ship_pct is None:
        return None
    return {
        "@type": "AggregateRating",
        "ratingValue": round(view.panel.ship_pct, 1),
        "bestRating": 100,
        "worstRating": 0,
        "ratingCount": view.panel.ship + view.panel.skip,
        "reviewCount": view.panel.ship + view.panel.skip,
        "ratingExplanation": AI_PANEL_NOTE,
    }


def tool_ld(view: ToolView, base_url: str) -> dict[str, Any]:
    """schema.org SoftwareApplication with the completed reviews (each named for its persona,
    written by the panel) and the panel's rating, both saying they come from an AI panel."""
    reviews = [
        {
            "@type": "Review",
            "name": f"{r.persona_name} (AI reviewer persona)",
            "author": panel_author(base_url),
            "reviewBody": r.review,
            "datePublished": r.reviewed_on.isoformat(),
            "reviewRating": {
                "@type": "Rating",
                "ratingValue": 1 if r.verdict == "ship" else 0,
                "bestRating": 1,
                "worstRating": 0,
                "ratingExplanation": AI_PANEL_NOTE,
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


def comparison_ld(
    views: list[ToolView], base_url: str, ld: Callable[[ToolView, str], Any] = tool_ld
) -> dict[str, Any]:
    """Both tools' ``tool_ld`` (``ld``: the same already encoded, once per batch)."""
    return {"@context": "https://schema.org", "@graph": [ld(v, base_url) for v in views]}


# --- head-to-head rankings --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RankedView:
    slug: str
    name: str
    score: float
    low: float
    high: float
    rank: int
    comparisons: int


@dataclass(frozen=True, slots=True)
class RankingView:
    """A category's Bradley-Terry ranking as votes last published it (tools render knows only)."""

    category: str
    computed_at: datetime
    comparisons: int
    provisional: bool
    items: tuple[RankedView, ...]

    def standing(self, slug: str) -> RankedView | None:
        return next((i for i in self.items if i.slug == slug), None)


@dataclass(frozen=True, slots=True)
class ChartMark:
    """One tool's row of the ranking chart: its score (a dot) and interval (a bar), in pixels."""

    item: RankedView
    y: float
    x_score: float
    x_low: float
    x_high: float


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    left: int  # where the plot starts (labels to its left)
    right: int  # where it ends
    axis_y: float
    ticks: tuple[tuple[float, int], ...]  # (x, score) gridlines
    marks: tuple[ChartMark, ...]


CHART_WIDTH = 640
CHART_LABEL_WIDTH = 180
CHART_ROW = 28
CHART_TOP = 12
CHART_AXIS = 26


def ranking_chart(items: Sequence[RankedView]) -> Chart:
    """Geometry of the ranking chart: one row per tool, best first, on a shared score axis that
    spans every interval (with a margin) and has a gridline every 50 or 100 points."""
    left, right = CHART_LABEL_WIDTH, CHART_WIDTH - 16
    lows = [i.low for i in items] or [1000.0]
    highs = [i.high for i in items] or [1000.0]
    step = 50 if max(highs) - min(lows) <= 300 else 100
    lo = (min(lows) // step) * step
    hi = -((-max(highs)) // step) * step
    if hi - lo < step:
        lo, hi = lo - step, hi + step

    def x(score: float) -> float:
        return round(left + (score - lo) / (hi - lo) * (right - left), 1)

    marks = tuple(
        ChartMark(item, CHART_TOP + n * CHART_ROW + CHART_ROW / 2, x(item.score), x(item.low), x(item.high))
        for n, item in enumerate(items)
    )
    axis_y = CHART_TOP + len(items) * CHART_ROW + 4
    ticks = tuple((x(s), int(s)) for s in range(int(lo), int(hi) + 1, step))
    return Chart(CHART_WIDTH, int(axis_y + CHART_AXIS), left, right, axis_y, ticks, marks)


def standing_text(ranking: RankingView | None, slug: str, category: str) -> str:
    """Where a tool stands in its category: "#2 of 5 in Code Editors", or that it is not ranked."""
    mine = ranking.standing(slug) if ranking else None
    if ranking is None or mine is None:
        return f"not ranked yet in {category}"
    text = f"#{mine.rank} of {len(ranking.items)} in {category}"
    return text + " (provisional)" if ranking.provisional else text
