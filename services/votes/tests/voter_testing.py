"""votes' tests: tools announced on the bus as ingest would, and voter tokens minted the way a browser
does (fetch a challenge, solve it, exchange it), at a test difficulty low enough to solve at once."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import nats
import pytest
from altcha.v1 import solve_challenge
from litestar.testing import AsyncTestClient

from verdicts.contracts import Tool, ToolAnnounced
from verdicts.ingest.domain import make_slug
from verdicts.platform.service import build_app
from verdicts.platform.settings import PlatformSettings
from verdicts.platform.testing import sample_tools
from verdicts.platform.testing.plugin import eventually
from verdicts.votes.app import create_app as votes_app

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


@contextlib.asynccontextmanager
async def votes_serving(
    settings: PlatformSettings, monkeypatch: pytest.MonkeyPatch, **env: str
) -> AsyncIterator[AsyncTestClient[Any]]:
    """votes alone, with ``votes_env(**env)``, once it has heard of every sample tool."""
    for name, value in votes_env(**env).items():
        monkeypatch.setenv(name, value)
    async with AsyncTestClient(build_app([votes_app(settings)], settings)) as client:
        await announce(settings.nats_url, *sample_slugs())

        async def votes_knows_all() -> bool:
            codes = [(await client.get(f"/v1/tools/{slug}/votes")).status_code for slug in sample_slugs()]
            return set(codes) == {200}

        await eventually(votes_knows_all, within=20, interval=0.2)
        yield client
