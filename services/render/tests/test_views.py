from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from verdicts.contracts import Pricing, Tool
from verdicts.render.views import (
    Community,
    Panel,
    ToolView,
    canonical_pair,
    gap,
    iso_week,
    parse_pair,
    pricing_read,
    review_view,
    reviewer_split,
    rivals,
    slugify,
)

pytestmark = pytest.mark.unit


def tool(
    slug: str, price: str | None = "0", tags: tuple[str, ...] = (), category: str = "Developer Tools"
) -> Tool:
    return Tool(
        slug=slug,
        name=slug.replace("-", " ").title(),
        vendor="V",
        category=category,
        tagline="t",
        description="d",
        pricing=Pricing(model="freemium", entry=None, entry_price_usd=Decimal(price) if price else None),
        homepage="https://example.com",
        tags=tags,
    )


def view(
    slug: str, panel: float | None = None, community: float | None = None, provisional: bool = False
) -> ToolView:
    return ToolView(
        tool(slug),
        1,
        datetime(2026, 11, 25, tzinfo=UTC),
        Panel(1, 1, 3, 1, 0, panel, False) if panel is not None else None,
        Community(10, 10, community, 30.0, 70.0, provisional) if community is not None else None,
    )


def test_pairs_have_one_canonical_order_and_parse_slugs_with_vs_inside():
    assert canonical_pair("zed", "atom") == ("atom", "zed")
    assert canonical_pair("atom", "zed") == ("atom", "zed")
    assert parse_pair("cursor-vs-github-copilot", ["cursor", "github-copilot"]) == (
        "cursor",
        "github-copilot",
    )
    assert parse_pair("man-vs-machine-vs-cursor", ["man-vs-machine", "cursor"]) == (
        "man-vs-machine",
        "cursor",
    )
    assert parse_pair("cursor-vs-nope", ["cursor"]) is None
    assert parse_pair("cursor", ["cursor"]) is None


def test_pricing_read_names_the_cheaper_start():
    assert "Both cost nothing to start" in pricing_read(tool("a", "0"), tool("b", "0"))
    assert "A is the cheaper way to start" in pricing_read(tool("a", "5"), tool("b", "20"))
    assert "does not publish an entry price" in pricing_read(tool("a", None), tool("b", "20"))


def test_gap_is_flagged_when_large_and_not_provisional():
    assert gap(view("a", panel=100, community=40), 25).flagged
    assert gap(view("a", panel=100, community=40), 25).points == -60
    assert not gap(view("a", panel=100, community=40, provisional=True), 25).flagged
    assert not gap(view("a", panel=60, community=70), 25).flagged
    assert gap(view("a", panel=60), 25).points is None


def test_reviewer_split_groups_personas_with_their_first_key_point():
    received = datetime(2026, 11, 25, tzinfo=UTC)
    reviews = {
        p: review_view(
            {"persona": p, "status": "completed", "verdict": v, "key_points": [f"{p} point"]}, received
        )
        for p, v in (("buyer", "skip"), ("thesis", "ship"), ("developer-experience", "ship"))
    }
    split = reviewer_split(ToolView(tool("a"), 1, received, reviews=reviews))
    assert [line.persona for line in split["ship"]] == ["Developer experience", "Thesis"]
    assert split["skip"][0].key_point == "buyer point"


def test_rivals_prefer_tools_the_reviews_name_then_shared_tags():
    me = tool("me", tags=("agents", "ide"))
    others = [
        tool("named-one"),
        tool("two-tags", tags=("agents", "ide")),
        tool("one-tag", tags=("ide",)),
        tool("elsewhere", category="Other"),
    ]
    assert rivals(me, "unlike named one, this…", others, 3) == ["named-one", "two-tags", "one-tag"]
    assert rivals(me, "", others, 1) == ["two-tags"]


def test_weeks_and_slugs():
    assert iso_week(date(2026, 11, 25)) == "2026-W48"
    assert iso_week(date(2027, 1, 1)) == "2026-W53"
    assert slugify("Développeur Tools!") == "developpeur-tools"
