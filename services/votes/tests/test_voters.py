"""Minting voters over HTTP with the real NATS and PostgreSQL: the proof of work spent once, the
per-address mint limit behind a trusted proxy, the cookie's flags, the form's origin and CSRF checks,
and which refusals count against a tool's "discarded" figure.

The test client's peer is "testclient", not an address; a thin ASGI wrapper lets a test name the
peer (header ``x-test-peer``) so trusted and untrusted proxies can be told apart in one app."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from voter_testing import SECRET, TEST_MAX_NUMBER, announce, mint, solution, solved_payload, votes_env

from verdicts.platform.service import build_app
from verdicts.platform.settings import PlatformSettings
from verdicts.platform.testing.plugin import eventually
from verdicts.votes.app import create_app as votes_app
from verdicts.votes.domain.proof_of_work import altcha_key, new_challenge
from verdicts.votes.domain.tokens import issue_token

pytestmark = pytest.mark.integration

TOOLS = ("cursor", "ollama", "github-copilot")
PROXIES = "10.0.0.0/8"  # whose X-Forwarded-For is believed
PROXY = "10.0.0.1"
UNTRUSTED = "203.0.113.7"
SITE = "https://verdicts.example"
HOST_ORIGIN = "http://testserver.local"  # the test client's own origin
FOREIGN_KEY = altcha_key("another-secret-entirely-0123456789abcdef")
_peers = itertools.count(1)


def with_peer(app: Any) -> Any:
    """The app, seeing the peer address a test names in ``x-test-peer`` (else "testclient")."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            peer = dict(scope["headers"]).get(b"x-test-peer")
            if peer:
                scope = {**scope, "client": (peer.decode(), 50000)}
        await app(scope, receive, send)

    return asgi


def changed(settings: PlatformSettings, trusted_proxies: str, site_url: str) -> PlatformSettings:
    """A fresh settings object (``model_copy`` would keep the cached trusted networks; the site URL
    is given under its alias, as a plain ``site_url=`` keyword is silently ignored)."""
    fields = settings.model_dump(exclude={"site_url"}) | {"trusted_proxies": trusted_proxies}
    fresh = PlatformSettings(**fields, VERDICTS_SITE_URL=site_url)
    assert (fresh.site_url, fresh.trusted_proxies) == (site_url, trusted_proxies)
    return fresh


def peer(**headers: str) -> dict[str, str]:
    """Headers from a peer of its own, so each test has its own mint budget."""
    n = next(_peers)
    return {"x-test-peer": f"198.18.{n // 250}.{n % 250 + 1}"} | headers


@contextlib.asynccontextmanager
async def started(settings: PlatformSettings) -> AsyncIterator[AsyncTestClient[Any]]:
    app = build_app([votes_app(settings)], settings)
    async with AsyncTestClient(with_peer(app)) as client:
        yield client


@pytest.fixture(scope="module")
async def client(settings, monkeypatch_module):
    for name, value in votes_env(MINT_BURST="2", MINT_PER_MINUTE="1").items():
        monkeypatch_module.setenv(name, value)
    local = changed(settings, trusted_proxies=PROXIES, site_url="")
    async with started(local) as client:
        await announce(settings.nats_url, *TOOLS)

        async def votes_knows_all() -> bool:
            codes = [(await client.get(f"/v1/tools/{slug}/votes")).status_code for slug in TOOLS]
            return set(codes) == {200}

        await eventually(votes_knows_all, within=20, interval=0.1)
        yield client


def voter_cookie(response: httpx.Response) -> tuple[str, dict[str, str]]:
    """The voter cookie's value and its attributes (names lower-case)."""
    cookies = [c for c in response.headers.get_list("set-cookie") if c.startswith("verdicts_voter=")]
    assert len(cookies) == 1, response.headers.get_list("set-cookie")
    first, *attributes = (part.strip() for part in cookies[0].split(";"))
    flags = {}
    for attribute in attributes:
        name, _, value = attribute.partition("=")
        flags[name.lower()] = value
    return first.partition("=")[2], flags


async def minted(client, headers: dict[str, str] | None = None) -> tuple[str, str]:
    """A fresh voter's ``(token, csrf)``; the client keeps no cookie."""
    response = await mint(client, headers or peer())
    assert response.status_code == 201, response.text
    client.cookies.clear()
    body = response.json()
    return body["voter_token"], body["csrf"]


async def spent(db) -> int:
    return int(await db.fetchval("SELECT count(*) FROM votes.altcha_spent"))


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    return body


async def tally(client, slug: str) -> dict[str, Any]:
    return (await client.get(f"/v1/tools/{slug}/votes")).json()


# Minting ----------------------------------------------------------------------------------------


async def test_a_minted_voter_votes_and_gets_an_httponly_lax_cookie(client):
    headers = peer()
    challenge = await client.get("/v1/voters/challenge", headers=headers)
    assert challenge.status_code == 200
    assert "no-store" in challenge.headers["cache-control"]
    assert challenge.json()["maxnumber"] == TEST_MAX_NUMBER
    response = await client.post("/v1/voters", json={"altcha": solution(challenge.json())}, headers=headers)
    client.cookies.clear()
    assert response.status_code == 201, response.text
    assert "no-store" in response.headers["cache-control"]
    body = response.json()
    assert set(body) == {"voter_token", "csrf"}
    value, flags = voter_cookie(response)
    assert value == body["voter_token"]
    assert "httponly" in flags
    assert flags["samesite"].lower() == "lax"
    assert "secure" not in flags  # no https site URL configured
    assert flags["path"] == "/"
    assert int(flags["max-age"]) == 365 * 86400

    cast = await client.post(
        "/v1/votes", json={"tool": "cursor", "choice": "ship", "voter_token": body["voter_token"]}
    )
    assert cast.status_code == 202, cast.text
    assert cast.json()["status"] == "accepted"


async def test_a_solved_challenge_is_exchanged_once(client, db):
    headers = peer()
    payload = await solved_payload(client, headers)
    before = await spent(db)
    first = await client.post("/v1/voters", json={"altcha": payload}, headers=headers)
    client.cookies.clear()
    assert first.status_code == 201, first.text
    second = await client.post("/v1/voters", json={"altcha": payload}, headers=peer())
    body = assert_problem(second, 409, "altcha-spent")
    assert body["field"] == "altcha"
    assert "voter_token" not in body
    assert not second.headers.get_list("set-cookie")
    assert await spent(db) == before + 1


def _payload(fields: dict[str, Any], **changes: Any) -> str:
    sent = {name: fields[name] for name in ("algorithm", "challenge", "salt", "signature")}
    return base64.b64encode(json.dumps(sent | {"number": 0} | changes).encode()).decode()


def _signed(key: bytes, age: dt.timedelta = dt.timedelta(0)) -> str:
    """A solved challenge signed with ``key``, made ``age`` ago (10 minutes to live)."""
    now = dt.datetime.now(dt.UTC) - age
    return solution(new_challenge(key, TEST_MAX_NUMBER, dt.timedelta(minutes=10), now))


BAD_PAYLOADS = {
    "garbage": lambda c: "not base64!",
    "not-json": lambda c: base64.b64encode(b"hello").decode(),
    "a-list": lambda c: base64.b64encode(b"[1, 2]").decode(),
    "deeply-nested": lambda c: base64.b64encode(b"[" * 1400).decode(),
    "missing-number": lambda c: base64.b64encode(
        json.dumps({k: c[k] for k in ("algorithm", "challenge", "salt", "signature")}).encode()
    ).decode(),
    "bool-number": lambda c: _payload(c, number=True),
    "negative-number": lambda c: _payload(c, number=-5),
    "sha-1": lambda c: _payload(c, algorithm="SHA-1"),
    "wrong-number": lambda c: solution(c, number=TEST_MAX_NUMBER + 1),
    "tampered-signature": lambda c: _payload(c, signature="0" * 64),
    "other-key": lambda c: _signed(FOREIGN_KEY),
    "expired": lambda c: _signed(altcha_key(SECRET), age=dt.timedelta(hours=1)),
}


@pytest.mark.parametrize("case", sorted(BAD_PAYLOADS))
async def test_a_bad_payload_is_refused_and_nothing_is_spent(client, db, case):
    headers = peer()
    challenge = (await client.get("/v1/voters/challenge", headers=headers)).json()
    before = await spent(db)
    sent = {"altcha": BAD_PAYLOADS[case](challenge)}
    response = await client.post("/v1/voters", json=sent, headers=headers)
    body = assert_problem(response, 422, "bad-altcha")
    assert body["field"] == "altcha"
    assert not response.headers.get_list("set-cookie")
    assert await spent(db) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"altcha": ""}, "altcha"),
        ({"altcha": "A" * 2001}, "altcha"),
        ({"altcha": 5}, "altcha"),
        ({}, "altcha"),
        ({"altcha": "x", "voter": "me"}, "voter"),
    ],
)
async def test_a_malformed_mint_request_is_refused_naming_the_field(client, db, body, field):
    before = await spent(db)
    response = await client.post("/v1/voters", json=body, headers=peer())
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in response.json()["errors"]]
    assert await spent(db) == before


async def _mints(client, headers: dict[str, str], count: int) -> list[int]:
    return [(await mint(client, headers)).status_code for _ in range(count)]


async def test_minting_is_limited_per_client_address(client):
    # An untrusted peer's X-Forwarded-For is ignored: a made-up address buys nothing.
    direct = {"x-test-peer": UNTRUSTED}
    assert await _mints(client, direct, 2) == [201, 201]
    limited = await mint(client, direct)
    assert_problem(limited, 429, "rate-limited")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert (await mint(client, direct | {"x-forwarded-for": "198.51.100.99"})).status_code == 429

    # Behind the trusted proxy each forwarded client has its own budget.
    def forwarded(chain: str) -> dict[str, str]:
        return {"x-test-peer": PROXY, "x-forwarded-for": chain}

    assert await _mints(client, forwarded("198.51.100.20"), 3) == [201, 201, 429]
    assert (await mint(client, forwarded("198.51.100.20, 10.9.9.9"))).status_code == 429  # via 2 proxies
    assert (await mint(client, forwarded("6.6.6.6, 198.51.100.20"))).status_code == 429  # a spoofed hop
    assert (await mint(client, forwarded("198.51.100.21"))).status_code == 201
    assert (await mint(client, {"x-test-peer": PROXY})).status_code == 201  # the proxy itself

    # IPv6 clients share a budget per /64.
    assert await _mints(client, forwarded("2001:db8:1:2::1"), 1) == [201]
    assert await _mints(client, forwarded("2001:db8:1:2::ffff"), 1) == [201]
    assert (await mint(client, forwarded("2001:db8:1:2:abcd::9"))).status_code == 429
    assert (await mint(client, forwarded("2001:db8:1:3::1"))).status_code == 201
    client.cookies.clear()


# The cookie's CSRF token and the form -------------------------------------------------------------


def cookie(token: str) -> dict[str, str]:
    return {"cookie": f"verdicts_voter={token}"}


async def test_the_csrf_token_needs_the_voter_cookie(client):
    token, csrf = await minted(client)
    missing = await client.get("/v1/voters/csrf")
    assert_problem(missing, 401, "bad-voter-token")
    garbage = await client.get("/v1/voters/csrf", headers=cookie("garbage"))
    assert_problem(garbage, 401, "bad-voter-token")
    found = await client.get("/v1/voters/csrf", headers=cookie(token))
    assert found.status_code == 200, found.text
    assert found.json() == {"csrf": csrf}
    assert "no-store" in found.headers["cache-control"]


async def _form(client, token: str | None, fields: dict[str, str], **headers: str) -> httpx.Response:
    sent = (cookie(token) if token is not None else {}) | {k.replace("_", "-"): v for k, v in headers.items()}
    return await client.post("/v1/votes/form", data=fields, headers=sent, follow_redirects=False)


async def test_the_form_takes_votes_only_from_this_site_with_the_voters_csrf_token(client, db):
    token, csrf = await minted(client)
    _, others_csrf = await minted(client)
    ballot = {"tool": "ollama", "choice": "ship", "return_to": "/tools/ollama"}

    signed = ballot | {"csrf": csrf}
    refusals = [
        (await _form(client, token, signed, sec_fetch_site="cross-site"), "foreign-origin"),
        (await _form(client, token, signed, sec_fetch_site="same-site"), "foreign-origin"),
        (await _form(client, token, signed, origin="https://evil.example"), "foreign-origin"),
        (await _form(client, token, signed, origin="null"), "foreign-origin"),
        (await _form(client, token, ballot, origin=HOST_ORIGIN), "bad-csrf-token"),
        (await _form(client, token, ballot | {"csrf": others_csrf}, origin=HOST_ORIGIN), "bad-csrf-token"),
        (await _form(client, token, ballot | {"csrf": csrf[:-1]}), "bad-csrf-token"),
    ]
    for response, code in refusals:
        assert_problem(response, 403, code)
    assert_problem(await _form(client, None, signed, origin=HOST_ORIGIN), 401, "bad-voter-token")

    accepted = await _form(client, token, signed, origin=HOST_ORIGIN, sec_fetch_site="same-origin")
    assert accepted.status_code == 303, accepted.text
    assert accepted.headers["location"] == "/tools/ollama"

    # Only the accepted form counts; the refusals are recorded, against no tool.
    async def counted_once() -> bool:
        return (await tally(client, "ollama"))["integrity"]["counted"] == 1

    await eventually(counted_once, within=10, interval=0.1)
    assert await db.fetchval("SELECT count(*) FROM votes.ballots WHERE tool = 'ollama'") == 1
    recorded = "SELECT count(*) FROM votes.discarded WHERE reason = $1"
    await eventually(lambda: _equals(db.fetchval(recorded, "bad csrf token"), 3), within=5)
    assert await db.fetchval(recorded, "foreign origin") == 4
    charged = "SELECT count(*) FROM votes.discarded WHERE tool IS NOT NULL AND reason IN ($1, $2)"
    assert await db.fetchval(charged, "foreign origin", "bad csrf token") == 0
    assert (await tally(client, "ollama"))["integrity"]["discarded"] == {}


async def test_only_a_well_shaped_token_against_a_known_tool_is_charged(client, db):
    def vote(tool: str, token: str) -> Any:
        return client.post("/v1/votes", json={"tool": tool, "choice": "ship", "voter_token": token})

    foreign, _ = issue_token("another-secret-entirely-0123456789abcdef")
    real, csrf = await minted(client)
    for response in [
        await vote("github-copilot", "forged.token"),
        await vote("github-copilot", "x" * 66),
        await vote("github-copilot", real + "x"),
        await vote("no-such-tool", foreign),
        await _form(client, "garbage", {"tool": "github-copilot", "choice": "ship", "csrf": csrf}),
        await vote("github-copilot", foreign),  # the one that counts, last
    ]:
        assert_problem(response, 401, "bad-voter-token")

    async def charged() -> int:
        return int((await tally(client, "github-copilot"))["integrity"]["discarded"].get("bad token", 0))

    await eventually(charged, within=5, interval=0.1)
    assert await charged() == 1
    bad_tokens = "SELECT tool, count(*) AS n FROM votes.discarded WHERE reason = 'bad token' GROUP BY tool"
    by_tool = {r["tool"]: r["n"] for r in await db.fetch(bad_tokens)}
    assert by_tool.pop(None) >= 5  # recorded, against no tool
    assert by_tool == {"github-copilot": 1}
    assert await db.fetchval("SELECT count(*) FROM votes.integrity WHERE tool = 'no-such-tool'") == 0


# An https site ------------------------------------------------------------------------------------


async def test_on_an_https_site_the_cookie_is_secure_and_only_the_site_origin_passes(client, settings):
    async with started(changed(settings, trusted_proxies=PROXIES, site_url=SITE)) as https:
        response = await mint(https, peer())
        assert response.status_code == 201, response.text
        https.cookies.clear()
        value, flags = voter_cookie(response)
        assert value == response.json()["voter_token"]
        assert {"secure", "httponly"} <= set(flags)
        assert flags["samesite"].lower() == "lax"

        ballot = {"tool": "cursor", "choice": "skip", "csrf": "not-the-token"}
        own_host = await _form(https, value, ballot, origin=HOST_ORIGIN)  # the Host no longer decides
        assert_problem(own_host, 403, "foreign-origin")
        site = await _form(https, value, ballot, origin=SITE, sec_fetch_site="same-origin")
        assert_problem(site, 403, "bad-csrf-token")  # past the origin check, stopped by the token
