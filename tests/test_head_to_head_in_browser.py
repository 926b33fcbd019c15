"""A head-to-head vote from a real browser (headless Chromium, Debian's) on a comparison page that
render published, served together with votes on one real port: "Which would you ship with?" changes
the category page's ranking, with the page's script (which mints a voter by proof of work) and with
JavaScript off (a plain form POST from a browser that already holds a voter's cookie; Chromium's own
``Sec-Fetch-Site: same-origin`` stands in for the CSRF token the static page cannot carry). The
ranking chart is drawn (an inline SVG with a box on the page, one mark per tool, under the pages'
CSP). Screenshots go to test-artifacts/ (VERDICTS_TEST_ARTIFACTS)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from voter_testing import SECRET, announce, solution

from verdicts.platform.service import build_app
from verdicts.platform.testing.plugin import eventually, served
from verdicts.render.app import create_app as render_app
from verdicts.votes.app import create_app as votes_app

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("VERDICTS_TEST_ARTIFACTS", Path(__file__).parents[1] / "test-artifacts"))
CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""
DEV = ("claude-4-sonnet", "smollm3")  # Developer Tools: voted on with JavaScript
EDITORS = ("cursor", "github-copilot")  # Code Editors: voted on without


@pytest.fixture(scope="module")
async def site(settings, nats_url, monkeypatch_module, tmp_path_factory):
    """render and votes in one app on a real port, four tools announced, their comparisons up."""
    env = {
        "VERDICTS_RENDER_SITE_DIR": str(tmp_path_factory.mktemp("site")),
        "VERDICTS_RENDER_INTERVAL_S": "0.3",
        "VERDICTS_VOTES_TOKEN_SECRET": SECRET,
        "VERDICTS_VOTES_ALTCHA_MAX_NUMBER": "5000",
        "VERDICTS_VOTES_RANKING_SPACING_S": "0.1",
        "VERDICTS_VOTES_BOOTSTRAP_ROUNDS": "20",
    }
    for name, value in env.items():
        monkeypatch_module.setenv(name, value)
    async with (
        served(build_app([render_app(settings), votes_app(settings)], settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        await announce(nats_url, *DEV, *EDITORS)
        for a, b in (DEV, EDITORS):
            await eventually(
                lambda a=a, b=b: _shows(client, f"/compare/{a}-vs-{b}/", "Which would you ship"), within=60
            )
            for slug in (a, b):
                await eventually(lambda s=slug: _ok(client, f"/v1/tools/{s}/votes"), within=60, interval=0.1)
        yield client


async def _ok(client: httpx.AsyncClient, path: str) -> bool:
    return (await client.get(path)).status_code == 200


async def _shows(client: httpx.AsyncClient, path: str, text: str) -> bool:
    response = await client.get(path)
    return response.status_code == 200 and text in response.text


async def _first(client: httpx.AsyncClient, category: str, slug: str) -> bool:
    """The category page ranks ``slug`` first."""
    return await _shows(client, f"/categories/{category}/", f'<tr data-slug="{slug}"><td>1</td>')


async def _vote(page, name: str) -> None:
    """Click the "Which would you ship with?" button ``name``; the form's 303 leads back."""
    before = page.url
    box = page.locator(".head-to-head")
    async with page.expect_navigation(wait_until="load", timeout=30_000):
        await box.get_by_role("button", name=name, exact=True).click()
    assert page.url == before


async def _chart_drawn(page, marks: int, shot: str) -> None:
    chart = page.locator("svg.ranking-chart")
    box = await chart.bounding_box()
    assert box is not None
    assert box["width"] > 300
    assert box["height"] > 40
    assert await chart.locator("g.mark").count() == marks
    assert await chart.locator("circle.score-dot").count() == marks
    title = await chart.locator("title").text_content()
    assert "head-to-head ranking" in (title or "")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
    assert (ARTIFACTS / shot).stat().st_size > 5_000


async def test_with_javascript_the_head_to_head_vote_changes_the_category_ranking(site):
    from playwright.async_api import async_playwright

    assert Path(CHROMIUM).exists(), "Debian chromium is missing: `make browser` installs it"
    base = str(site.base_url)
    a, b = DEV
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = await browser.new_context()
            await context.add_init_script(CSP_WATCH)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            minted: list[str] = []
            page.on("request", lambda r: minted.append(r.url) if r.url.endswith("/v1/voters") else None)

            await page.goto(f"{base}/compare/{a}-vs-{b}/")
            assert await page.locator(".head-to-head button").count() == 3
            await _vote(page, "SmolLM3")
            await eventually(lambda: _first(site, "developer-tools", b), within=60, interval=0.2)
            await page.screenshot(path=str(ARTIFACTS / "head-to-head-compare.png"), full_page=True)

            await _vote(page, "Claude 4 Sonnet")  # the same voter changes its mind
            await eventually(lambda: _first(site, "developer-tools", a), within=60, interval=0.2)
            assert len(minted) == 1  # one voter, minted once
            await eventually(
                lambda: _shows(site, f"/compare/{a}-vs-{b}/", "#1 of 2 in Developer Tools"), within=60
            )

            await page.goto(f"{base}/categories/developer-tools/")
            assert await page.locator("table.ranking tbody tr").first.get_attribute("data-slug") == a
            await _chart_drawn(page, 2, "head-to-head-category-js.png")
            assert await page.evaluate("window.__cspViolations") == []
            assert errors == []
        finally:
            await browser.close()


async def test_without_javascript_the_plain_form_changes_the_category_ranking(site):
    from playwright.async_api import async_playwright

    base = str(site.base_url)
    a, b = EDITORS
    challenge = (await site.get("/v1/voters/challenge")).json()
    minted = await site.post("/v1/voters", json={"altcha": solution(challenge)})
    assert minted.status_code == 201, minted.text
    site.cookies.clear()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = await browser.new_context(java_script_enabled=False)
            cookie = {"name": "verdicts_voter", "value": minted.json()["voter_token"], "url": base}
            await context.add_cookies([cookie | {"httpOnly": True, "sameSite": "Lax"}])
            page = await context.new_page()
            sent: list[dict[str, str]] = []
            page.on(
                "request",
                lambda r: sent.append(r.headers) if r.url.endswith("/v1/votes/head-to-head/form") else None,
            )
            await page.goto(f"{base}/compare/{a}-vs-{b}/")
            await _vote(page, "GitHub Copilot")
            await eventually(lambda: _first(site, "code-editors", b), within=60, interval=0.2)
            await _vote(page, "Cursor")
            await eventually(lambda: _first(site, "code-editors", a), within=60, interval=0.2)
            assert len(sent) == 2  # plain form POSTs, the csrf field as the page has it (empty)

            await page.goto(f"{base}/categories/code-editors/")
            await _chart_drawn(page, 2, "head-to-head-category-no-js.png")
        finally:
            await browser.close()


async def test_the_first_run_home_page_shows_the_panels_progress(site):
    """Tools announced, no panel in yet: what a first `make up` shows before the pages are in."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = await browser.new_context()
            await context.add_init_script(CSP_WATCH)
            page = await context.new_page()
            await page.goto(f"{site.base_url}/")
            progress = page.locator("section.progress")
            assert await progress.is_visible()
            assert "Panels complete: 0 of 4" in (await progress.inner_text())
            assert await page.locator("progress").get_attribute("max") == "4"
            assert await page.get_by_role("heading", name="Categories").is_visible()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "first-run-home.png"), full_page=True)
            assert await page.evaluate("window.__cspViolations") == []
        finally:
            await browser.close()
