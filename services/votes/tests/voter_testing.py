"""votes' tests: tools announced on the bus as ingest would, and voter tokens minted the way a browser
does (fetch a challenge, solve it, exchange it), at a test difficulty low enough to solve at once."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import nats
from altcha.v1 import solve_challenge

from verdicts.contracts import Tool, ToolAnnounced
from verdicts.ingest.domain import make_slug
from verdicts.platform.testing import sample_tools

SECRET = "test-secret-for-voter-tokens-0123456789abcdef"
TEST_MAX_NUMBER = 2000  # a challenge solved in a few milliseconds


def sample_slugs() -> list[str]:
    """The demo catalogue's slugs, as ingest makes them."""
    return [make_slug(t["name"]) for t in sample_tools()]


def votes_env(**overrides: str) -> dict[str, str]:
    """VERDICTS_VOTES_* for a test app: the secret, a low difficulty, generous limits unless overridden."""
    values = {
        "TOKEN_SECRET": SECRET,
        "ALTCHA_MAX_NUMBER": str(TEST_MAX_NUMBER),
        "MINT_BURST": "10000",
        "MINT_PER_MINUTE": "600000",
        "ADDRESS_BURST": "10000",
        "ADDRESS_RATE_PER_S": "10000",
    } | overrides
    return {f"VERDICTS_VOTES_{name}": value for name, value in values.items()}


async def announce(nats_url: str, *slugs: str) -> None:
    """ingest's announcements of sample tools (or made-up ones), as votes hears them on the bus."""
    samples = {slug: t | {"slug": slug} for t in sample_tools() for slug in [make_slug(t["name"])]}
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for slug in slugs:
            fields = samples.get(slug) or {**sample_tools()[0], "slug": slug, "name": slug.title()}
            event = ToolAnnounced.create(tool=Tool.model_validate(fields), version=1, content_hash=slug)
            await js.publish(
                event.SUBJECT, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.event_id}
            )
    finally:
        await nc.close()


def solution(challenge: dict[str, Any], number: int | None = None) -> str:
    """The base64 payload the ALTCHA libraries send for a solved challenge (or for ``number``)."""
    if number is None:
        solved = solve_challenge(
            challenge["challenge"], challenge["salt"], challenge["algorithm"], challenge["maxnumber"]
        )
        assert solved is not None, "the challenge has no solution in [0, maxnumber]"
        number = solved.number
    fields = {name: challenge[name] for name in ("algorithm", "challenge", "salt", "signature")}
    return base64.b64encode(json.dumps(fields | {"number": number}).encode()).decode()


async def solved_payload(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> str:
    challenge = await client.get("/v1/voters/challenge", headers=headers)
    assert challenge.status_code == 200, challenge.text
    return solution(challenge.json())


async def mint(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> httpx.Response:
    """``POST /v1/voters`` with a freshly solved challenge: the answer, whatever it is."""
    payload = await solved_payload(client, headers)
    return await client.post("/v1/voters", json={"altcha": payload}, headers=headers)


async def voter(client: httpx.AsyncClient) -> str:
    """A voter token, minted as a browser would; the client keeps no cookie from it."""
    response = await mint(client)
    assert response.status_code == 201, response.text
    client.cookies.clear()
    return str(response.json()["voter_token"])
