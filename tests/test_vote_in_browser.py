"""A vote from a real browser: headless Chromium (Debian's) on a page render published, served
together with votes on one real port. The page's own script (``/assets/vote.js``, under the page's
CSP) mints a voter by solving the ALTCHA proof of work, gets the HttpOnly cookie and the CSRF token,
and sends the form; the ballot is counted, a second click changes it without minting again, and a
form POST from another site is refused even with the cookie and the right CSRF token."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
from voter_testing import SECRET, announce, sample_slugs, solution

from verdicts.platform.service import build_app
from verdicts.platform.testing import sample_tools
from verdicts.platform.testing.plugin import eventually, served
from verdicts.render.app import create_app as render_app
from verdicts.votes.app import create_app as votes_app

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
MAX_NUMBER = 5000  # about 2,500 digests on average: a fraction of a second in the browser
SLUG, OTHER = sample_slugs()[:2]
NAME, OTHER_NAME = (t["name"] for t in sample_tools()[:2])
CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""
"""Collects the page's Content-Security-Policy violations (added before any of its own script)."""
UNAUTHORIZED = "Failed to load resource: the server responded with a status of 401 (Unauthorized)"


@pytest.fixture(scope="module")
async def site(settings, nats_url, monkeypatch_module, tmp_path_factory):
    """render and votes in one app on a real port, with two tools announced and their pages up."""
    monkeypatch_module.setenv("VERDICTS_RENDER_SITE_DIR", str(tmp_path_factory.mktemp("site")))
    monkeypatch_module.setenv("VERDICTS_RENDER_INTERVAL_S", "0.5")
    monkeypatch_module.setenv("VERDICTS_VOTES_TOKEN_SECRET", SECRET)
    monkeypatch_module.setenv("VERDICTS_VOTES_ALTCHA_MAX_NUMBER", str(MAX_NUMBER))
    async with (
        served(build_app([render_app(settings), votes_app(settings)], settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        await announce(nats_url, SLUG, OTHER)
        for slug in (SLUG, OTHER):
            await eventually(lambda s=slug: _ok(client, f"/v1/tools/{s}/votes"), within=20, interval=0.1)
            await eventually(lambda s=slug: _ok(client, f"/tools/{s}/"), within=20, interval=0.1)
        yield client


async def _ok(client: httpx.AsyncClient, path: str) -> bool:
    return (await client.get(path)).status_code == 200


async def _tally(client: httpx.AsyncClient, slug: str) -> tuple[int, int]:
    votes = (await client.get(f"/v1/tools/{slug}/votes")).json()
    return votes["ship"], votes["skip"]


async def _counted(client: httpx.AsyncClient, slug: str, ship: int, skip: int) -> bool:
    return await _tally(client, slug) == (ship, skip)


async def test_a_vote_from_chromium_mints_once_counts_and_changes(site):
    from playwright.async_api import async_playwright

    assert Path(CHROMIUM).exists(), "Debian chromium is missing: `make browser` installs it"
    base = str(site.base_url)
    page_url = f"{base}/tools/{SLUG}/"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = await browser.new_context()
            page = await context.new_page()
            errors: list[str] = []
            asked: list[str] = []  # "METHOD path" of every request the page makes
            moments: dict[str, float] = {}
            csrf_answers: list[int] = []
            forms: list[dict[str, str]] = []  # the vote forms as sent
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))

            def on_request(request) -> None:
                path = request.url.removeprefix(base)
                asked.append(f"{request.method} {path}")
                if (request.method, path) == ("POST", "/v1/voters"):
                    moments.setdefault("mint", time.perf_counter())
                if (request.method, path) == ("POST", "/v1/votes/form"):
                    forms.append(dict(parse_qsl(request.post_data or "")))

            def on_response(response) -> None:
                if response.url.endswith("/v1/voters/challenge"):
                    moments.setdefault("challenge", time.perf_counter())
                if response.url.endswith("/v1/voters/csrf"):
                    csrf_answers.append(response.status)

            page.on("request", on_request)
            page.on("response", on_response)
            await context.add_init_script(CSP_WATCH)
            await page.goto(page_url)
            assert await page.locator(".vote-status[role=status]").count() == 1

            async with page.expect_navigation(wait_until="load", timeout=30_000):
                await page.get_by_role("button", name=f"Ship {NAME}").click()
            assert page.url == page_url  # the form's 303 led back to the page
            assert await page.evaluate("window.__cspViolations") == []
            minting = [a for a in asked if a.split(" ")[1].startswith("/v1/voters")]
            assert minting == ["GET /v1/voters/csrf", "GET /v1/voters/challenge", "POST /v1/voters"], asked
            assert [f["choice"] for f in forms] == ["ship"]
            assert len(forms[0]["csrf"]) > 10  # the script filled the hidden field before sending
            await eventually(lambda: _counted(site, SLUG, 1, 0), within=20, interval=0.1)
            cookies = {c["name"]: c for c in await context.cookies()}
            voter = cookies["verdicts_voter"]
            assert (voter["httpOnly"], voter["sameSite"]) == (True, "Lax")
            assert await page.evaluate("document.cookie") == ""  # the page's script cannot read it

            async with page.expect_navigation(wait_until="load", timeout=30_000):
                await page.get_by_role("button", name=f"Skip {NAME}").click()
            assert page.url == page_url
            await eventually(lambda: _counted(site, SLUG, 0, 1), within=20, interval=0.1)
            assert asked.count("GET /v1/voters/challenge") == 1  # the second vote minted nothing
            assert asked.count("POST /v1/voters") == 1
            assert asked.count("GET /v1/voters/csrf") == 2
            assert [f["choice"] for f in forms] == ["ship", "skip"]
            assert forms[1]["csrf"] == forms[0]["csrf"]  # the same voter
            assert await page.evaluate("window.__cspViolations") == []
            # Chromium logs every 4xx a script fetches; the one expected is the first CSRF ask's 401
            # (no voter yet: the cookie is HttpOnly, so asking is the only way to know).
            assert csrf_answers == [401, 200], csrf_answers
            assert errors == [UNAUTHORIZED], errors
            solving_ms = 1000 * (moments["mint"] - moments["challenge"])
            print(f"\nsolved a challenge of maxnumber {MAX_NUMBER} in {solving_ms:.0f} ms")
        finally:
            await browser.close()


async def test_a_refused_mint_or_a_lost_connection_says_so_and_the_buttons_work_again(site):
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page()  # a fresh context: no voter yet
            await page.route(
                "**/v1/voters/challenge",
                lambda route: route.fulfill(status=429, headers={"Retry-After": "7"}, body=""),
            )
            await page.goto(f"{site.base_url}/tools/{OTHER}/")
            status = page.locator(".vote-status")
            ship = page.get_by_role("button", name=f"Ship {OTHER_NAME}")
            await ship.click()
            await status.filter(has_text="Try again in 7 seconds").wait_for(timeout=10_000)
            assert await ship.is_enabled()
            await page.route("**/v1/voters/csrf", lambda route: route.abort())
            await ship.click()
            await status.filter(has_text="Could not reach the site").wait_for(timeout=10_000)
            assert await ship.is_enabled()
            assert page.url == f"{site.base_url}/tools/{OTHER}/"
        finally:
            await browser.close()
    assert await _tally(site, OTHER) == (0, 0)


async def test_a_form_post_from_another_site_is_refused_even_with_cookie_and_csrf(site):
    challenge = (await site.get("/v1/voters/challenge")).json()
    minted = await site.post("/v1/voters", json={"altcha": solution(challenge)})
    assert minted.status_code == 201, minted.text
    cookie = {"verdicts_voter": minted.cookies["verdicts_voter"]}
    site.cookies.clear()
    form = {"tool": OTHER, "choice": "ship", "return_to": f"/tools/{OTHER}/", "csrf": minted.json()["csrf"]}
    async with httpx.AsyncClient(base_url=str(site.base_url), cookies=cookie, timeout=30) as browser_like:
        for headers in (
            {"Sec-Fetch-Site": "cross-site", "Origin": "https://elsewhere.example"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site", "Origin": "http://sub.127.0.0.1"},
            {"Origin": "null"},
        ):
            refused = await browser_like.post("/v1/votes/form", data=form, headers=headers)
            assert (refused.status_code, refused.json()["code"]) == (403, "foreign-origin"), headers
        same_site = {"Sec-Fetch-Site": "same-origin", "Origin": str(site.base_url)}
        forged = await browser_like.post("/v1/votes/form", data=form | {"csrf": "x" * 20}, headers=same_site)
        assert (forged.status_code, forged.json()["code"]) == (403, "bad-csrf-token")
        taken = await browser_like.post("/v1/votes/form", data=form, headers=same_site)
        assert (taken.status_code, taken.headers["location"]) == (303, f"/tools/{OTHER}/")
    await eventually(lambda: _counted(site, OTHER, 1, 0), within=20, interval=0.1)
