"""render from events to served pages, on the real NATS and PostgreSQL: XSS stays inert, events
out of order are held, comparisons (kept on request, rendered for a reader, as JSON), ETags,
security headers, coalesced re-renders, the Atom feed, headless Chromium under the pages' CSP."""

from __future__ import annotations

import asyncio
import json
import os
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import feedparser
import httpx
import pytest

from verdicts.contracts import (
    Interval,
    PagePublished,
    PanelVerdictUpdated,
    Pricing,
    Provenance,
    ReviewCompleted,
    TallyUpdated,
    Tool,
    ToolAnnounced,
)
from verdicts.contracts.subjects import RENDER_STREAM
from verdicts.platform.access.issuing import grant
from verdicts.platform.access.keys import Scope
from verdicts.platform.service import build_app
from verdicts.platform.testing.plugin import eventually, served
from verdicts.render.app import create_app as render_app
from verdicts.render.domain import iso_week

pytestmark = pytest.mark.integration

XSS = [
    "<script>alert('name')</script>",
    '"><img src=x onerror=alert(1)>',
    "</script><script>alert(2)</script>",
    "<svg/onload=alert(3)>",
    "javascript:alert(4)",
]
PERSONAS = ("developer-experience", "category-skeptic", "thesis", "buyer")
NAMES = {p: p.replace("-", " ").capitalize() for p in PERSONAS}  # as review-panel's personas say
ARTIFACTS = Path(os.environ.get("VERDICTS_TEST_ARTIFACTS", Path(__file__).parents[3] / "test-artifacts"))


def tool(slug: str, name: str, **fields) -> Tool:
    return Tool(
        **{
            "slug": slug,
            "name": name,
            "vendor": "Vendor",
            "category": "Developer Tools",
            "tagline": f"{name} does things",
            "description": f"{name} is a tool for testing pages.",
            "pricing": Pricing(model="freemium", entry="Free", entry_price_usd=Decimal(0)),
            "homepage": "https://example.com",
        }
        | fields
    )


def panel_events(
    slug: str,
    verdicts: list[str],
    text: str = "",
    notes: dict[str, dict] | None = None,
    names: dict[str, str] | None = NAMES,
    seats: tuple[str, ...] = PERSONAS,
    run: int = 1,
) -> list:
    """A completed panel; ``notes`` adds fields (route_note, withheld_fields) to a persona's review;
    ``names`` and ``seats`` are the display names and panel order the reviews carry (``names=None``:
    published as before persona_name and persona_order existed)."""
    events: list = [
        ReviewCompleted.create(
            tool_slug=slug,
            tool_version=1,
            persona=p,
            **({"persona_name": names[p], "persona_order": seats.index(p)} if names is not None else {}),
            status="completed",
            verdict=v,
            review=f"{slug} review by {p}. {text}",
            key_points=(f"{p} point {text}",),
            confidence=0.8,
            panel_run=run,
            provenance=Provenance(
                route="local",
                backend="openai",
                model="smollm2-135m-instruct",
                prompt_template_version="t1",
                prompt_sha256="ab" * 32,
                schema_version="verdict-v2",
                temperature=0.3,
            ),
            **(notes or {}).get(p, {}),
        )
        for p, v in zip(PERSONAS, verdicts, strict=True)
    ]
    ship = verdicts.count("ship")
    events.append(
        PanelVerdictUpdated.create(
            tool_slug=slug,
            tool_version=1,
            ship=ship,
            skip=4 - ship,
            ship_pct=100 * ship / 4,
            partial=False,
            panel_run=run,
        )
    )
    return events


def tally(slug: str, ship: int, skip: int, at: datetime | None = None) -> TallyUpdated:
    total = ship + skip
    return TallyUpdated.create(
        tool_slug=slug,
        ship=ship,
        skip=skip,
        community_ship_pct=round(100 * ship / total, 1),
        interval=Interval(low=10, high=90),
        provisional=total < 30,
        **({"occurred_at": at} if at else {}),
    )


SELF_JUDGING = "local serves the smollm family, the tool's own, and no route outside it is configured"
BETA_NOTES = {
    "thesis": {"route_note": f"{SELF_JUDGING}: flagged as self-judging"},
    "buyer": {"withheld_fields": ("description", "tags")},
}


@pytest.fixture(scope="module")
async def site(settings, bus, monkeypatch_module, tmp_path_factory):
    monkeypatch_module.setenv("VERDICTS_RENDER_SITE_DIR", str(tmp_path_factory.mktemp("site")))
    monkeypatch_module.setenv("VERDICTS_RENDER_INTERVAL_S", "0.5")
    async with (
        served(build_app([render_app(settings)], settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        await bus(
            ToolAnnounced.create(tool=tool("alpha", "Alpha"), version=1, content_hash="a"),
            ToolAnnounced.create(tool=tool("beta", "Beta", tags=("x",)), version=1, content_hash="b"),
            *panel_events("alpha", ["ship", "ship", "skip", "ship"]),
            *panel_events("beta", ["skip", "skip", "ship", "skip"], notes=BETA_NOTES),
            tally("alpha", 40, 10),
        )
        await eventually(lambda: _complete(client, "alpha", "beta"), within=20, interval=0.2)
        # the comparison can be rendered at once; the tool pages follow on the loop's next pass
        await eventually(lambda: _has_text(client, "/tools/beta/", "self-judging"), within=20, interval=0.2)
        await eventually(lambda: _has_text(client, "/tools/beta/", WITHHELD_NOTE), within=20, interval=0.2)
        await eventually(lambda: _has_text(client, "/tools/alpha/", "80%"), within=20, interval=0.2)
        yield client


@pytest.fixture(scope="module")
async def rerun(database_url, site) -> dict[str, str]:
    """Headers with a ``reviews:rerun`` key (what keeping a comparison current needs)."""
    return {"Authorization": f"Bearer {await grant(database_url, Scope.REVIEWS_RERUN, name='rerun')}"}


@pytest.fixture(scope="module")
async def delta(site, bus) -> str:
    """A tool alone in its category: no rivals, so no comparison with it is kept unless requested."""
    await bus(
        ToolAnnounced.create(
            tool=tool("delta", "Delta", category="Note Taking"), version=1, content_hash="d"
        ),
        *panel_events("delta", ["ship", "skip", "skip", "skip"]),
    )
    await eventually(lambda: _has_text(site, "/tools/delta/", "25%"), within=20, interval=0.2)
    return "delta"


async def _kept(db, a: str, b: str) -> str | None:
    """Why the comparison is kept current (``None``: it is not)."""
    return await db.fetchval("SELECT reason FROM render.pairs WHERE a = $1 AND b = $2", a, b)


async def _complete(client: httpx.AsyncClient, a: str, b: str) -> bool:
    """The comparison shows both panels in full and a's community tally."""
    response = await client.get(f"/compare/{a}-vs-{b}/index.json")
    if response.status_code != 200:
        return False
    data = response.json()
    sides = (data["a"], data["b"])
    return all(len(s["reviews"]) == 4 and s["panel"] for s in sides) and data["a"]["community"] is not None


async def _has_text(client: httpx.AsyncClient, path: str, text: str) -> bool:
    response = await client.get(path)
    return response.status_code == 200 and text in response.text


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def assert_inert(html: str) -> None:
    parser = Elements()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        if tag == "script":  # the site's own script files, or a JSON-LD data block
            assert (attrs.get("src") or "").startswith("/assets/") or attrs.get(
                "type"
            ) == "application/ld+json"
        for value in attrs.values():
            assert not (value or "").strip().lower().startswith("javascript:"), (tag, attrs)
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "<svg/onload" not in html
    ld = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    for block in ld:
        json.loads(block)


async def test_comparison_page_carries_cards_scorecard_split_pricing_gap_and_votes(site):
    page = await site.get("/compare/alpha-vs-beta")
    html = page.text
    expected = [
        *("AI tool comparison", "Alpha vs Beta", "Which one should you ship with?", "Reviewer scorecard"),
        *("Reviewer split", "Pricing read", "Panel vs community", "Community vote", "75%", "25%", "80%"),
        *("Developer Tools", "Free", "Weekly AI Tool Verdicts"),
    ]
    for text in expected:
        assert text in html, (
            text,
            re.sub(r"\s+", " ", html[html.find("<main>") : html.find("Reviewer scorecard")]),
        )
    assert html.count("<blockquote>") == 8
    assert html.count('action="/v1/votes/form"') == 4
    assert "smollm2-135m-instruct · route local · prompt template t1 (abababababab)" in html
    assert "provisional" not in html.split("Alpha does things")[1].split("</article>")[0]  # 50 votes
    data = (await site.get("/compare/alpha-vs-beta/index.json")).json()
    assert data["a"]["tool"]["slug"] == "alpha"
    assert len(data["b"]["reviews"]) == 4
    assert_inert(html)


WITHHELD_NOTE = "Some of this tool's text was withheld from the reviewer: it read like instructions"


async def test_route_notes_and_withheld_text_show_beside_their_review(site):
    for path in ("/compare/alpha-vs-beta", "/tools/beta/"):
        html = (await site.get(path)).text
        assert html.count("flagged as self-judging") == 1, path
        assert html.count(WITHHELD_NOTE) == 1, path
        assert "(description, tags)" in html
        main = html[html.index("<main") : html.index("</main>")]
        order = ["beta review by thesis", "self-judging", "beta review by buyer", WITHHELD_NOTE]
        assert [main.index(text) for text in order] == sorted(main.index(text) for text in order), path
    assert "self-judging" not in (await site.get("/tools/alpha/")).text
    data = (await site.get("/tools/beta/index.json")).json()
    by_persona = {r["persona"]: r for r in data["reviews"]}
    assert by_persona["thesis"]["route_note"].endswith("flagged as self-judging")
    assert by_persona["buyer"]["withheld_fields"] == ["description", "tags"]
    assert by_persona["buyer"]["prompt_template_version"] == "t1"


async def test_xss_payloads_render_inert(site, bus, rerun):
    payload = " ".join(XSS)
    evil = tool("evil", XSS[0], tagline=XSS[1], description=payload, tags=(XSS[3],))
    await bus(
        ToolAnnounced.create(tool=evil, version=1, content_hash="e"),
        *panel_events(
            "evil",
            ["ship", "skip", "ship", "skip"],
            text=payload,
            notes={"buyer": {"route_note": payload, "withheld_fields": (XSS[0],)}},
        ),
    )
    await eventually(lambda: _has_text(site, "/tools/evil/", "Buyer"), within=20, interval=0.2)
    response = await site.post("/v1/comparisons", json={"a": "evil", "b": "alpha"}, headers=rerun)
    assert response.status_code == 201, response.text
    await eventually(lambda: _complete(site, "alpha", "evil"), within=20, interval=0.2)
    # a page rendered less than an interval ago catches up on the next pass
    await eventually(lambda: _has_text(site, "/categories/developer-tools/", "/tools/evil/"), within=10)
    await eventually(lambda: _has_text(site, "/badges/evil.svg", "svg"), within=10)
    for path in ("/compare/alpha-vs-evil", "/tools/evil/", "/categories/developer-tools/", "/"):
        html = (await site.get(path)).text
        assert "&lt;script&gt;alert(" in html or path == "/", path
        assert_inert(html)
    badge = (await site.get("/badges/evil.svg")).text
    ElementTree.fromstring(badge)  # well-formed: the name was escaped
    assert "<script" not in badge


async def test_events_before_their_tool_are_held_then_applied(site, bus):
    early = datetime.now(UTC) - timedelta(seconds=5)
    await bus(*panel_events("late", ["ship"] * 4, names=None), tally("late", 3, 1, at=early))
    await asyncio.sleep(1.5)
    assert (await site.get("/tools/late/")).status_code == 404
    await bus(ToolAnnounced.create(tool=tool("late", "Late"), version=1, content_hash="l"))
    await eventually(lambda: _has_text(site, "/tools/late/", "100%"), within=20, interval=0.2)
    html = (await site.get("/tools/late/")).text
    assert "75%" in html  # the held tally
    assert "provisional" in html


async def test_reviews_show_under_the_name_and_in_the_seat_their_event_carries(site, bus):
    names = NAMES | {"buyer": "The buyer", "thesis": "Long-view thesis"}
    seats = ("buyer", "thesis", "developer-experience", "category-skeptic")
    events = panel_events("gamma", ["ship"] * 4, names=names, seats=seats)
    await bus(ToolAnnounced.create(tool=tool("gamma", "Gamma"), version=1, content_hash="g"), *events)
    await eventually(lambda: _has_text(site, "/tools/gamma/", "Long-view thesis"), within=20, interval=0.2)
    html = (await site.get("/tools/gamma/")).text
    headings = re.findall(r"<h3>(.*?)</h3>", html)
    assert headings[:4] == ["The buyer", "Long-view thesis", "Developer experience", "Category skeptic"]
    old = (await site.get("/tools/late/")).text  # published as before persona names existed
    humanised = ["Buyer", "Category skeptic", "Developer experience", "Thesis"]  # by id, unplaced
    assert re.findall(r"<h3>(.*?)</h3>", old)[:4] == humanised


async def test_comparisons_are_canonical_and_refuse_bad_pairs(site, rerun):
    reverse = await site.get("/compare/beta-vs-alpha", follow_redirects=False)
    assert reverse.status_code == 301
    assert reverse.headers["location"] == "/compare/alpha-vs-beta/"
    assert (await site.get("/compare/alpha-vs-alpha")).status_code == 422
    assert (await site.get("/compare/alpha-vs-nope")).status_code == 404
    same = await site.post("/v1/comparisons", json={"a": "alpha", "b": "alpha"}, headers=rerun)
    assert same.status_code == 422
    unknown = await site.post("/v1/comparisons", json={"a": "alpha", "b": "nope"}, headers=rerun)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown-tool")
    bad = await site.post("/v1/comparisons", json={"a": "Alpha!", "b": "beta", "c": 1}, headers=rerun)
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")


async def test_any_pair_of_known_tools_renders_for_its_reader_and_is_not_kept(site, bus, db, delta):
    first = await site.get("/compare/delta-vs-beta", follow_redirects=True)
    assert first.status_code == 200
    assert "Beta vs Delta" in first.text
    again = await site.get("/compare/beta-vs-delta", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    data = (await site.get("/compare/beta-vs-delta/index.json")).json()
    assert (data["a"]["tool"]["slug"], data["b"]["tool"]["slug"]) == ("beta", "delta")
    assert await _kept(db, "beta", "delta") is None
    published = "SELECT count(*) FROM render.pages WHERE path LIKE 'compare/beta-vs-delta/%'"
    assert await db.fetchval(published) == 0
    # a change to the tools re-renders their pages, not a comparison nobody keeps
    await bus(tally("delta", 9, 1))
    await eventually(lambda: _has_text(site, "/tools/delta/", "90%"), within=20, interval=0.2)
    assert await db.fetchval(published) == 0
    assert await _kept(db, "beta", "delta") is None
    assert "90%" in (await site.get("/compare/beta-vs-delta")).text  # read fresh from the read model


async def test_keeping_a_comparison_needs_a_reviews_rerun_key(site, database_url, db, rerun, delta):
    body = {"a": "delta", "b": "alpha"}
    anonymous = await site.post("/v1/comparisons", json=body)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    writer = await grant(database_url, Scope.TOOLS_WRITE, vendors=("Vendor",), name="writer")
    denied = await site.post("/v1/comparisons", json=body, headers={"Authorization": f"Bearer {writer}"})
    assert (denied.status_code, denied.json()["required_scope"]) == (403, "reviews:rerun")
    assert await _kept(db, "alpha", "delta") is None
    kept = await site.post("/v1/comparisons", json=body, headers=rerun)
    assert kept.status_code == 201, kept.text
    assert kept.json() == {"path": "/compare/alpha-vs-delta/", "a": "delta", "b": "alpha", "added": True}
    assert await _kept(db, "alpha", "delta") == "requested"
    assert await db.fetchval(
        "SELECT count(*) FROM render.pages WHERE path = 'compare/alpha-vs-delta/index.html'"
    )
    assert (await site.get("/compare/alpha-vs-delta/")).status_code == 200
    twice = await site.post("/v1/comparisons", json=body, headers=rerun)
    assert (twice.status_code, twice.json()["added"]) == (201, False)
    admin = await grant(database_url, Scope.ADMIN, name="admin")
    by_admin = await site.post(
        "/v1/comparisons", json={"a": "gamma", "b": "delta"}, headers={"Authorization": f"Bearer {admin}"}
    )
    assert by_admin.status_code == 201, by_admin.text
    assert await _kept(db, "delta", "gamma") == "requested"


async def test_a_comparison_reads_as_json_for_partners(site, delta):
    answer = await site.get("/v1/comparisons/alpha-vs-beta")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    data = answer.json()
    assert (data["path"], data["kept"]) == ("/compare/alpha-vs-beta/", True)
    assert data["url"].endswith("/compare/alpha-vs-beta/")
    a, b = data["a"], data["b"]
    assert (a["tool"]["slug"], b["tool"]["slug"]) == ("alpha", "beta")
    assert (a["panel"]["ship_pct"], a["verdict"], b["verdict"]) == (75.0, "ship", "skip")
    assert a["community"]["ship"] >= 40
    assert [r["persona"] for r in a["reviews"]] == list(PERSONAS)
    assert [row["persona"] for row in data["scorecard"]] == list(PERSONAS)
    assert data["scorecard"][0]["a"] == {"status": "completed", "verdict": "ship"}
    assert set(data["gaps"]) == set(data["splits"]) == {"alpha", "beta"}
    assert data["gaps"]["alpha"]["direction"]
    assert "Alpha" in data["pricing_read"]
    assert {line["verdict"] for line in data["splits"]["beta"]["skip"]} == {"skip"}
    reverse = await site.get("/v1/comparisons/beta-vs-alpha", follow_redirects=False)
    assert (reverse.status_code, reverse.headers["location"]) == (301, "/v1/comparisons/alpha-vs-beta")
    unkept = (await site.get("/v1/comparisons/beta-vs-delta")).json()
    assert unkept["kept"] is False
    unknown = await site.get("/v1/comparisons/alpha-vs-nope")
    assert (unknown.status_code, unknown.json()["code"], unknown.json()["detail"]) == (
        404,
        "unknown-tool",
        "no tool 'nope' is known",
    )
    assert unknown.headers["content-type"].startswith("application/problem+json")
    for malformed in ("alpha", "alpha-vs-", "Alpha-vs-Beta"):
        refused = await site.get(f"/v1/comparisons/{malformed}")
        assert (refused.status_code, refused.json()["code"]) == (422, "malformed-pair"), malformed
    same = await site.get("/v1/comparisons/alpha-vs-alpha")
    assert (same.status_code, same.json()["code"]) == (422, "same-tool")


def _policy(answer: httpx.Response) -> dict[str, str]:
    directives = (d.strip().split(" ", 1) for d in answer.headers["content-security-policy"].split(";"))
    return {d[0]: (d[1] if len(d) > 1 else "") for d in directives}


async def test_pages_carry_a_content_security_policy_and_badges_stay_embeddable(site, delta):
    for path in ("/compare/alpha-vs-beta", "/compare/beta-vs-delta", "/tools/alpha/", "/"):
        page = await site.get(path)
        policy = _policy(page)
        assert policy["script-src"] == "'self'", path
        assert "'unsafe-inline'" not in policy["script-src"] + policy["style-src"], path
        assert (policy["object-src"], policy["base-uri"], policy["form-action"]) == (
            "'none'",
            "'none'",
            "'self'",
        )
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"]
        assert "<style" not in page.text
        assert '<link rel="stylesheet" href="/assets/site.css">' in page.text
        assert '<script src="/assets/vote.js" defer></script>' in page.text
    badge = await site.get("/badges/alpha.svg")
    assert badge.status_code == 200
    assert badge.headers["cross-origin-resource-policy"] == "cross-origin"
    assert badge.headers["x-content-type-options"] == "nosniff"
    assert _policy(badge)["default-src"] == "'none'"
    assert "frame-ancestors" not in _policy(badge)
    css = await site.get("/assets/site.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert css.headers["x-content-type-options"] == "nosniff"
    assert ".scorecard" in css.text
    data = await site.get("/v1/comparisons/alpha-vs-beta")
    assert _policy(data)["default-src"] == "'none'"  # API answers keep the platform's policy


async def test_pages_carry_etag_and_last_modified(site):
    page = await site.get("/compare/alpha-vs-beta")
    etag, modified = page.headers["etag"], page.headers["last-modified"]
    assert (await site.get("/compare/alpha-vs-beta", headers={"If-None-Match": etag})).status_code == 304
    assert (
        await site.get("/compare/alpha-vs-beta", headers={"If-Modified-Since": modified})
    ).status_code == 304
    assert (await site.get("/compare/alpha-vs-beta", headers={"If-None-Match": '"other"'})).status_code == 200


async def test_a_vote_storm_rerenders_a_page_at_most_once_per_interval(site, bus):
    sub = await bus.js.subscribe(PagePublished.SUBJECT, stream=RENDER_STREAM.name, deliver_policy="new")
    started = asyncio.get_running_loop().time()
    for n in range(40):
        await bus(tally("beta", 10 + n, 10))
        await asyncio.sleep(0.05)
    await eventually(lambda: _has_text(site, "/compare/alpha-vs-beta", "83%"), within=10, interval=0.1)
    elapsed = asyncio.get_running_loop().time() - started
    renders = 0
    while True:
        try:
            event = PagePublished.model_validate_json((await sub.next_msg(timeout=1)).data)
        except Exception:
            break
        renders += event.path == "/compare/alpha-vs-beta/index.html"
    await sub.unsubscribe()
    assert 1 <= renders <= elapsed / 0.5 + 2, (renders, elapsed)


async def test_weekly_issue_and_atom_feed_validate(site):
    feed_response = await site.get("/weekly/feed.atom")
    assert feed_response.headers["content-type"].startswith("application/atom+xml")
    root = ElementTree.fromstring(feed_response.content)
    atom = "{http://www.w3.org/2005/Atom}"
    assert root.tag == f"{atom}feed"
    for required in ("id", "title", "updated", "author"):
        assert root.find(f"{atom}{required}") is not None, required
    feed = feedparser.parse(feed_response.content)
    assert not feed.bozo, feed.bozo_exception
    assert feed.feed.title == "Weekly AI Tool Verdicts"
    assert feed.entries
    for entry in feed.entries:
        assert entry.id
        assert entry.updated
        assert (
            await site.get(entry.link.split("://", 1)[1].split("/", 1)[1].join(["/", ""]))
        ).status_code == 200
    week = feed.entries[0].link.rstrip("/").rsplit("/", 1)[1]
    issue = (await site.get(f"/weekly/{week}/")).text
    assert "AI Tool Verdicts" in issue
    assert "Alpha" in issue


async def test_a_re_review_that_flips_the_verdict_is_in_that_week_s_issue_and_atom_entry(site, bus):
    await bus(
        ToolAnnounced.create(tool=tool("flipper", "Flipper"), version=1, content_hash="f"),
        *panel_events("flipper", ["ship", "ship", "ship", "skip"]),
    )
    await eventually(lambda: _has_text(site, "/tools/flipper/", "75%"), within=20, interval=0.2)
    # The panel re-reviews the tool (a second run of the same version) and now says skip.
    await bus(*panel_events("flipper", ["skip", "skip", "ship", "skip"], run=2))
    week = iso_week(datetime.now(UTC))

    async def flipped() -> bool:
        data = (await site.get(f"/weekly/{week}/index.json")).json()
        return any(f["slug"] == "flipper" for f in data["flipped"])

    await eventually(flipped, within=20, interval=0.2)
    flip = next(
        f for f in (await site.get(f"/weekly/{week}/index.json")).json()["flipped"] if f["slug"] == "flipper"
    )
    assert (flip["previous_pct"], flip["ship_pct"], flip["name"]) == (75.0, 25.0, "Flipper")
    issue = (await site.get(f"/weekly/{week}/")).text
    flips_section = issue.split("Verdicts that flipped", 1)[1]
    assert "Flipper</a>: 75% → 25%" in flips_section

    def flips_in_feed(feed) -> str:
        entry = next((e for e in feed.entries if e.link.rstrip("/").endswith(week)), None)
        return "" if entry is None else entry.content[0].value.split("Verdicts that flipped", 1)[1]

    async def in_feed() -> bool:
        # the flip, not the announcement: a feed rendered before the re-review names Flipper too
        feed = feedparser.parse((await site.get("/weekly/feed.atom")).content)
        return "Flipper" in flips_in_feed(feed)

    await eventually(in_feed, within=20, interval=0.2)
    feed = feedparser.parse((await site.get("/weekly/feed.atom")).content)
    assert "Flipper" in flips_in_feed(feed)
    assert "75% → 25%" in flips_in_feed(feed)


CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""
"""Collects the page's Content-Security-Policy violations (added before any of its own script)."""


async def test_headless_chromium_sees_both_cards_and_the_scorecard(site, delta):
    from playwright.async_api import async_playwright

    chromium = "/usr/bin/chromium"
    assert Path(chromium).exists(), "Debian chromium is missing: `make test` installs it"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = await browser.new_page(java_script_enabled=True)
            errors: list[str] = []
            dialogs: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: dialogs.append(d.message))
            await page.add_init_script(CSP_WATCH)
            for path in ("/compare/alpha-vs-beta", "/compare/alpha-vs-evil", "/compare/beta-vs-delta"):
                await page.goto(f"{site.base_url}{path}")
                assert await page.evaluate("window.__cspViolations") == [], path
                styled = await page.locator("header.site a").first.evaluate(
                    "a => getComputedStyle(a).fontWeight"
                )
                assert styled == "700", "the site's stylesheet did not apply"
                cards = await page.locator("article.card").all_inner_texts()
                assert len(cards) == 2
                assert "Panel ship" in cards[0]
                assert "Community" in cards[1]
                scorecard = await page.locator("table.scorecard").inner_text()
                assert "Developer experience" in scorecard
                assert "Buyer" in scorecard
            await page.goto(f"{site.base_url}/compare/alpha-vs-beta")
            assert "Alpha" in (await page.locator("article.card").first.inner_text())
            await page.screenshot(path=str(ARTIFACTS / "compare-alpha-vs-beta.png"), full_page=True)
            assert errors == [], errors
            assert dialogs == []  # no XSS payload ran
        finally:
            await browser.close()
    assert (ARTIFACTS / "compare-alpha-vs-beta.png").stat().st_size > 10_000


async def test_home_leads_with_the_latest_comparisons_panel_and_community_side_by_side(site):
    data = (await site.get("/index.json")).json()
    assert data["progress"]["tools"] >= 2
    assert data["comparisons"], data
    newest = data["comparisons"][0]
    page = (await site.get(f"{newest['path']}index.json")).json()
    for side in ("a", "b"):  # the home page shows what the comparison page shows
        assert newest[side]["panel"] == page[side]["panel"]
        assert newest[side]["community"] == page[side]["community"]
    html = (await site.get("/")).text
    assert html.index("Latest comparisons") < html.index("Latest verdicts") < html.index("Categories")
    row = html[html.index(f'href="{newest["path"]}"') :].split("</tr>", 1)[0]
    a, b = newest["a"], newest["b"]
    assert f"{a['tool']['name']} vs {b['tool']['name']}" in row
    shown = [f"{s['tool']['name']} {s['panel']['ship_pct']:.0f}%" for s in (a, b)]
    assert " · ".join(shown) in row  # panel ship, side by side; community ship in the next cell
