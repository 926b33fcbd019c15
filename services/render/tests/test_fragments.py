"""A batch of pages makes each tool's card, reviews, JSON and JSON-LD once and puts them in every
page that shows the tool: the pages are what they would be made one by one, untrusted text is
escaped exactly once, and a tool that changed is made again."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from verdicts.contracts import Pricing, Tool
from verdicts.render import store
from verdicts.render.domain import (
    Community,
    Panel,
    ToolView,
    comparison_data,
    comparison_ld,
    plain,
    review_view,
    tool_data,
)
from verdicts.render.pages import Site, Views, page_json

pytestmark = pytest.mark.unit

XSS = "<script>alert('x')</script> & \"quoted\" <img src=x onerror=alert(1)>"
NO_CONN: Any = None  # the read model is stubbed: no query reaches a connection
RECEIVED = datetime(2026, 11, 25, 9, 30, 15, 123456, tzinfo=UTC)


def view(slug: str, text: str = "", ship_pct: float = 62.5) -> ToolView:
    tool = Tool(
        slug=slug,
        name=f"{slug.title()} {text}",
        vendor="V",
        category="Developer Tools",
        tagline=f"tagline {text}",
        description=f"Développeur — {text}",
        pricing=Pricing(model="freemium", entry="Free", entry_price_usd=Decimal("0.5")),
        homepage="https://example.com",
    )
    reviews = {
        p: review_view(
            {
                "persona": p,
                "persona_order": n,
                "status": "completed",
                "verdict": "ship" if n % 2 else "skip",
                "review": f"{slug} by {p}: {text}",
                "key_points": [f"point {text}"],
                "route_note": text or None,
                "provenance": {"model": "m", "route": "local", "prompt_sha256": "ab" * 32},
            },
            RECEIVED,
        )
        for n, p in enumerate(("buyer", "thesis", "category-skeptic"))
    }
    return ToolView(
        tool,
        1,
        RECEIVED,
        Panel(1, 1, 2, 1, 0, ship_pct, False),
        Community(7, 3, 70.1, 40.25, 88.0, True),
        reviews,
    )


@pytest.fixture
def tools(monkeypatch):
    known = {v.slug: v for v in (view("evil", XSS), view("alpha"), view("beta", ship_pct=1e-7))}

    async def tool_views(conn, slugs, seen=None):
        return {s: known[s] for s in slugs if s in known}

    async def ranking(conn, category):
        return None

    async def pairs_of(conn, slug):
        return [("alpha", "evil"), ("beta", "evil")]

    monkeypatch.setattr(store, "tool_views", tool_views)
    monkeypatch.setattr(store, "ranking", ranking)
    monkeypatch.setattr(store, "pairs_of", pairs_of)
    return known


def card_of(html: str, slug: str) -> str:
    found = re.search(rf'<article class="card" aria-labelledby="card-{slug}">.*?</article>', html, re.S)
    assert found is not None
    return found[0]


async def test_a_batch_makes_each_tool_once_and_its_pages_are_as_if_made_alone(tools):
    site = Site("https://v.example", 25)
    batch = Views(NO_CONN)
    pages = {
        "alpha": await site.comparison(NO_CONN, "alpha", "evil", batch),
        "beta": await site.comparison(NO_CONN, "beta", "evil", batch),
        "tool": await site.tool(NO_CONN, "evil", batch),
    }
    alone = {
        "alpha": await site.comparison(NO_CONN, "alpha", "evil"),
        "beta": await site.comparison(NO_CONN, "beta", "evil"),
        "tool": await site.tool(NO_CONN, "evil"),
    }
    for key, outputs in pages.items():
        assert [(o.path, o.body) for o in outputs] == [(o.path, o.body) for o in alone[key]], key
    html = {key: outputs[0].body.decode() for key, outputs in pages.items()}
    for text in html.values():
        assert "<script>alert" not in text
        assert "<img src=x" not in text
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;quoted&#34;" in text
        assert "&amp;lt;" not in text
        assert "&amp;amp;" not in text
        assert text.count("evil by thesis: &lt;script&gt;") >= 1
    # the same card in every page of the batch
    assert card_of(html["alpha"], "evil") == card_of(html["beta"], "evil") == card_of(html["tool"], "evil")
    # JSON-LD: "<", ">" and "&" never raw inside the script element, the same data as the tools'
    for text in html.values():
        for block in re.findall(r'<script type="application/ld\+json">(.*?)</script>', text, re.S):
            assert not set(block) & set("<>&")
            json.loads(block)
    ld = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html["alpha"], re.S)[0]
    expected_ld = comparison_ld([tools["alpha"], tools["evil"]], "https://v.example")
    assert json.loads(ld) == json.loads(json.dumps(expected_ld))


async def test_the_json_beside_a_page_holds_what_the_python_encoder_wrote(tools):
    site = Site("https://v.example", 25)
    batch = Views(NO_CONN)
    outputs = await site.comparison(NO_CONN, "beta", "evil", batch)
    data = comparison_data(tools["beta"], tools["evil"], 25, "https://v.example")
    data |= {"standings": {s: "not ranked yet in Developer Tools" for s in ("beta", "evil")}}
    body = outputs[1].body
    assert json.loads(body) == json.loads(json.dumps(data, default=plain))
    assert list(json.loads(body)) == list(data)  # keys in their order
    assert json.loads(body)["b"]["tool"]["description"] == f"Développeur — {XSS}"
    assert json.loads(body)["a"]["panel"]["ship_pct"] == 1e-7
    assert json.loads(body)["a"]["reviews"][0]["reviewed_on"] == "2026-11-25"
    tool_page = (await site.tool(NO_CONN, "evil", batch))[1].body
    assert json.loads(tool_page) == json.loads(
        json.dumps(tool_data(tools["evil"]) | {"rivals": ["alpha", "beta"]})
    )
    flips = [{"slug": "evil", "ship_pct": 25.0, "previous_pct": 75.0, "received_at": RECEIVED}]
    assert json.loads(page_json(plain(flips))) == json.loads(json.dumps(flips, default=plain))


async def test_a_tool_is_made_again_when_it_changed_and_once_per_revision(tools):
    site = Site("https://v.example", 25)
    before = tools["alpha"]
    changed = replace(before, tool=before.tool.model_copy(update={"tagline": "now <b>bold</b>"}))
    assert "now" not in site.card(before)
    assert "now &lt;b&gt;bold&lt;/b&gt;" in site.card(changed)
    assert site.tool_json(changed) != site.tool_json(before)
    # read again in a later batch: another object of the same revision is the same view
    first, again = replace(before, revision="r1"), replace(before, revision="r1")
    assert site.card(first) is site.card(again)
    assert site.reviews(first) is site.reviews(again)
    newer = replace(changed, revision="r2")
    assert "now &lt;b&gt;bold&lt;/b&gt;" in site.card(newer)
    assert site.card(newer) is not site.card(first)
