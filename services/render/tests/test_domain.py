"""render's rules, pure: pairs, page keys, personas, the split, pricing, the gap, rivals, weeks."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from verdicts.contracts import PanelVerdictUpdated, Pricing, TallyUpdated, Tool
from verdicts.render.domain import (
    Community,
    Panel,
    Persona,
    ToolView,
    badge_label,
    by_panel_ship,
    canonical_pair,
    canonical_pairs,
    comparison_data,
    comparison_page,
    comparison_path,
    full_category,
    gap,
    iso_week,
    issue_weeks,
    names_one_tool_twice,
    not_modified,
    page_file,
    pages_touched,
    pair_splits,
    parse_pair,
    personas_of,
    pricing_read,
    review_view,
    reviewer_split,
    rivals,
    rivals_may_change,
    slugify,
    tool_data,
    tool_ld,
    unknown_in_pair,
    week_bounds,
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


def test_a_pair_names_its_unknown_tool_or_is_malformed():
    assert pair_splits("a-vs-b-vs-c") == [("a", "b-vs-c"), ("a-vs-b", "c")]
    assert pair_splits("Alpha-vs-Beta") == pair_splits("alpha") == pair_splits("alpha-vs-") == []
    assert unknown_in_pair("cursor-vs-nope", ["cursor"]) == "nope"
    assert unknown_in_pair("nope-vs-cursor", ["cursor"]) == "nope"
    assert unknown_in_pair("man-vs-machine-vs-nope", ["man-vs-machine"]) == "nope"
    assert unknown_in_pair("cursor-vs-zed", ["cursor", "zed"]) is None
    assert unknown_in_pair("Cursor-vs-zed", ["zed"]) is None  # malformed, not unknown


def test_a_category_full_of_requested_pairs_refuses_one_more():
    assert full_category({"Writing": 1, "Design": 0}, 2) is None
    assert full_category({"Writing": 2, "Design": 0}, 2) == "Writing"
    assert full_category({"Writing": 0}, 0) == "Writing"


def test_a_comparison_s_json_holds_what_its_page_shows():
    received = datetime(2026, 11, 25, tzinfo=UTC)
    left = ToolView(
        tool("alpha"),
        1,
        received,
        Panel(1, 1, 1, 0, 0, 100.0, False),
        reviews={
            "buyer": review_view({"persona": "buyer", "status": "completed", "verdict": "ship"}, received)
        },
    )
    data = comparison_data(left, view("beta", panel=40, community=80), 25, "https://v.example")
    assert (data["path"], data["url"]) == (
        "/compare/alpha-vs-beta/",
        "https://v.example/compare/alpha-vs-beta/",
    )
    assert data["scorecard"] == [
        {"persona": "buyer", "name": "Buyer", "a": {"status": "completed", "verdict": "ship"}, "b": None}
    ]
    assert data["gaps"]["beta"] == {
        "points": 40.0,
        "flagged": True,
        "direction": "community is warmer than the panel",
    }
    assert data["splits"]["alpha"]["ship"] == [{"persona": "Buyer", "verdict": "ship", "key_point": None}]
    assert data["a"]["tool"]["slug"] == "alpha"


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
    assert rivals(me, [None, "Unlike NAMED ONE, this…"], others, 3) == ["named-one", "two-tags", "one-tag"]
    assert rivals(me, [], others, 1) == ["two-tags"]


def test_weeks_and_slugs():
    assert iso_week(date(2026, 11, 25)) == "2026-W48"
    assert iso_week(date(2027, 1, 1)) == "2026-W53"
    assert slugify("Développeur Tools!") == "developpeur-tools"


RECEIVED = datetime(2026, 11, 25, tzinfo=UTC)


def review(persona: str, verdict: str = "ship", **carried) -> dict:
    return {"persona": persona, "status": "completed", "verdict": verdict, "key_points": ["k"], **carried}


def reviewed(slug: str, *bodies: dict) -> ToolView:
    return ToolView(tool(slug), 1, RECEIVED, reviews={b["persona"]: review_view(b, RECEIVED) for b in bodies})


def test_personas_come_in_panel_order_with_the_names_their_reviews_carry():
    view = reviewed(
        "a",
        review("zeta", persona_name="Zeta the Buyer", persona_order=0),
        review("alpha", persona_name="Alpha Critic", persona_order=1),
    )
    assert personas_of(view) == [Persona("zeta", "Zeta the Buyer", 0), Persona("alpha", "Alpha Critic", 1)]
    assert [line.persona for line in reviewer_split(view)["ship"]] == ["Zeta the Buyer", "Alpha Critic"]
    assert [r["persona_name"] for r in tool_data(view)["reviews"]] == ["Zeta the Buyer", "Alpha Critic"]
    names = [r["name"] for r in tool_ld(view, "https://x")["review"]]
    assert names == ["Zeta the Buyer (AI reviewer persona)", "Alpha Critic (AI reviewer persona)"]


def test_reviews_from_before_persona_names_fall_back_to_the_humanised_id_after_the_placed_ones():
    old = reviewed("a", review("category-skeptic"), review("buyer"), review("thesis", persona_order=0))
    assert personas_of(old) == [
        Persona("thesis", "Thesis", 0),
        Persona("buyer", "Buyer", None),
        Persona("category-skeptic", "Category skeptic", None),
    ]


def test_a_comparison_takes_a_persona_s_carried_name_and_first_seat_from_either_side():
    old = reviewed("a", review("buyer"))
    new = reviewed("b", review("buyer", persona_name="The buyer", persona_order=3))
    assert personas_of(old, new) == personas_of(new, old) == [Persona("buyer", "The buyer", 3)]


def test_pages_an_event_touches_and_when_rivals_are_looked_at_again():
    at = datetime(2026, 11, 25, tzinfo=UTC)
    assert pages_touched("b", "Dev", at, [("a", "b"), ("b", "c")]) == [
        *("tool:b", "badge:b", "category:Dev", "home", "issue:2026-W48", "feed"),
        *("compare:a:b", "compare:b:c"),
    ]
    assert comparison_page("z", "a") == "compare:a:z"
    assert comparison_path("z", "a") == "compare/a-vs-z/"
    assert canonical_pairs([("b", "a"), ("a", "b"), ("c", "c"), ("a", "c")]) == [("a", "b"), ("a", "c")]
    assert rivals_may_change(PanelVerdictUpdated.SUBJECT)
    assert not rivals_may_change(TallyUpdated.SUBJECT)


def test_a_pair_naming_one_tool_twice():
    assert names_one_tool_twice("a-vs-a", None)
    assert names_one_tool_twice("x-vs-y", ("a", "a"))
    assert not names_one_tool_twice("a-vs-b", ("a", "b"))
    assert not names_one_tool_twice("a", None)


def test_request_paths_name_published_files_and_conditional_requests():
    assert page_file("") == "index.html"
    assert page_file("tools/a/") == "tools/a/index.html"
    assert page_file("compare/a-vs-b") == "compare/a-vs-b/index.html"
    assert page_file("badges/a.svg") == "badges/a.svg"
    modified = datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert not_modified('"x", "e"', None, '"e"', modified)
    assert not_modified("*", None, '"e"', modified)
    assert not not_modified('"x"', "Wed, 25 Nov 2026 12:00:00 GMT", '"e"', modified)  # ETag wins
    assert not_modified(None, "Wed, 25 Nov 2026 12:00:00 GMT", '"e"', modified)
    assert not not_modified(None, "Wed, 25 Nov 2026 11:59:59 GMT", '"e"', modified)
    assert not not_modified(None, "not a date", '"e"', modified)
    assert not not_modified(None, None, '"e"', modified)


def test_json_ld_names_the_panel_as_author_and_says_the_rating_is_an_ai_panel_s():
    panelled = dataclasses.replace(
        reviewed("a", review("thesis", persona_name="Thesis"), review("buyer", "skip", review="Too dear.")),
        panel=Panel(1, 1, 1, 1, 0, 50.0, False),
    )
    ld = json.loads(json.dumps(tool_ld(panelled, "https://x")))
    assert {"@context", "@type", "name", "review", "aggregateRating"} <= set(ld)
    for item in ld["review"]:
        assert {"@type", "author", "reviewRating", "datePublished", "name"} <= set(item)
        assert item["@type"] == "Review"
        assert item["author"]["@type"] == "Organization"  # AI personas are not people
        assert "AI" in item["name"]
        assert "AI" in item["reviewRating"]["ratingExplanation"]
        rating = item["reviewRating"]
        assert rating["worstRating"] <= rating["ratingValue"] <= rating["bestRating"]
    aggregate = ld["aggregateRating"]
    assert {"@type", "ratingValue", "ratingCount", "bestRating", "worstRating"} <= set(aggregate)
    assert aggregate["@type"] == "AggregateRating"
    assert aggregate["ratingValue"] == 50.0
    assert "AI reviewer personas" in aggregate["ratingExplanation"]
    assert "Person" not in json.dumps(ld)


def test_weeks_are_iso_weeks_in_utc_whatever_the_offset():
    # Sunday 23:30 in New York is Monday 04:30 UTC: the next week.
    sunday_evening = datetime(2026, 11, 29, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert iso_week(sunday_evening) == "2026-W49"
    start, end = week_bounds("2026-W49")
    assert start.tzinfo == UTC
    assert start <= sunday_evening < end
    assert iso_week(start) == iso_week(end - timedelta(microseconds=1)) == "2026-W49"


def test_issues_are_the_weeks_tools_were_announced_newest_first():
    days = [datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 11, 26, tzinfo=UTC), datetime(2027, 1, 1)]
    assert issue_weeks(days) == ["2026-W53", "2026-W48"]
    start, end = week_bounds("2026-W48")
    assert (start.date(), (end - start).days, start.hour) == (date(2026, 11, 23), 7, 0)


def test_categories_list_the_panel_s_favourites_first_and_badges_say_the_call():
    ranked = by_panel_ship([view("c"), view("b", panel=40), view("a", panel=90)])
    assert [v.slug for v in ranked] == ["a", "b", "c"]
    assert badge_label(view("a", panel=75)) == "ship 75%"
    assert badge_label(view("a", panel=25)) == "skip 25%"
    assert badge_label(view("a")) == "reviewing"
