"""What a page shows, computed from the read model, pure: pairs and their canonical order, page
keys, the reviewer split, the pricing read, the panel vs community gap, rivals, ISO weeks."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from verdicts.contracts import Tool

PERSONA_ORDER = ("developer-experience", "category-skeptic", "thesis", "buyer")


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "uncategorized"


def canonical_pair(a: str, b: str) -> tuple[str, str]:
    """One order per pair (alphabetical by slug): the other order redirects to it."""
    return (a, b) if a < b else (b, a)


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


def iso_week(day: date | datetime) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def persona_name(persona: str) -> str:
    return {
        "developer-experience": "Developer experience",
        "category-skeptic": "Category skeptic",
        "thesis": "Thesis",
        "buyer": "Buyer",
    }.get(persona, persona.replace("-", " ").capitalize())


@dataclass(frozen=True, slots=True)
class ReviewView:
    persona: str
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

    @property
    def persona_name(self) -> str:
        return persona_name(self.persona)


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
    provenance = body.get("provenance") or {}
    return ReviewView(
        persona=body["persona"],
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


def personas_of(*tools: ToolView) -> list[str]:
    seen = {p for t in tools for p in t.reviews}
    return [p for p in PERSONA_ORDER if p in seen] + sorted(seen - set(PERSONA_ORDER))


@dataclass(frozen=True, slots=True)
class SplitLine:
    persona: str
    verdict: str
    key_point: str | None


def reviewer_split(view: ToolView) -> dict[str, list[SplitLine]]:
    """Who said ship and who said skip, each with their first key point."""
    split: dict[str, list[SplitLine]] = {"ship": [], "skip": []}
    for persona in personas_of(view):
        review = view.reviews[persona]
        if review.verdict in split:
            split[review.verdict].append(
                SplitLine(
                    persona_name(persona), review.verdict, review.key_points[0] if review.key_points else None
                )
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


def rivals(tool: Tool, reviews_text: str, others: Sequence[Tool], limit: int) -> list[str]:
    """Nearest rivals in the tool's category: tools its reviews name first, then shared tags."""
    candidates = [o for o in others if o.slug != tool.slug and o.category == tool.category]
    tags = set(tool.tags)

    def closeness(other: Tool) -> tuple[int, int, str]:
        mentioned = other.name.casefold() in reviews_text
        return (0 if mentioned else 1, -len(tags & set(other.tags)), other.slug)

    return [o.slug for o in sorted(candidates, key=closeness)[:limit]]


def reviews_text(reviews: Iterable[ReviewView]) -> str:
    """Every review's text, lower-cased, to look for rival names in."""
    return "\n".join((r.review or "").casefold() for r in reviews)
