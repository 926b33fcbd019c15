"""votes over HTTP with the real NATS and PostgreSQL: ballots, tallies, bad input, head-to-head."""

from __future__ import annotations

import asyncio
import json

import nats
import pytest
from voter_testing import SECRET, mint, voter, votes_serving

from verdicts.contracts import TallyUpdated
from verdicts.contracts.subjects import DEAD_LETTER_STREAM, VOTES_STREAM
from verdicts.platform.testing.plugin import eventually
from verdicts.votes.domain.tally import wilson_interval
from verdicts.votes.domain.tokens import issue_token

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def client(settings, monkeypatch_module):
    async with votes_serving(
        settings,
        monkeypatch_module,
        VOTER_BURST="3",
        VOTER_RATE_PER_S="0.5",
        RANKING_INTERVAL_S="0.5",
        BOOTSTRAP_ROUNDS="50",
    ) as client:
        yield client


async def tally(client, slug: str) -> dict:
    return (await client.get(f"/v1/tools/{slug}/votes")).json()


async def test_a_vote_is_counted_and_a_changed_vote_replaces_it(client):
    token = await voter(client)
    cast = await client.post("/v1/votes", json={"tool": "cursor", "choice": "ship", "voter_token": token})
    assert cast.status_code == 202
    assert cast.json()["status"] == "accepted"
    await eventually(lambda: _counts(client, "cursor", (1, 0)), within=10, interval=0.1)
    again = await client.post("/v1/votes", json={"tool": "cursor", "choice": "skip", "voter_token": token})
    assert again.status_code == 202
    await eventually(lambda: _counts(client, "cursor", (0, 1)), within=10, interval=0.1)
    body = await tally(client, "cursor")
    assert body["provisional"] is True
    assert body["community_ship_pct"] == 0.0
    assert body["integrity"]["counted"] == 1


async def _counts(client, slug: str, expected: tuple[int, int]) -> bool:
    body = await tally(client, slug)
    return (body["ship"], body["skip"]) == expected


async def test_a_retried_request_is_one_ballot(client, db):
    token = await voter(client)
    ballot = {"tool": "ollama", "choice": "ship", "voter_token": token, "nonce": "retry-1"}
    first = await client.post("/v1/votes", json=ballot)
    second = await client.post("/v1/votes", json=ballot)
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json()["status"] == "duplicate"
    assert first.json()["ballot_id"] == second.json()["ballot_id"]
    await eventually(lambda: _counts(client, "ollama", (1, 0)), within=10, interval=0.1)
    await eventually(lambda: _discarded(client, "ollama", "duplicate"), within=5, interval=0.1)


async def _discarded(client, slug: str, reason: str) -> int:
    return (await tally(client, slug))["integrity"]["discarded"].get(reason, 0)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"tool": "cursor", "choice": "maybe", "voter_token": "x"}, 422, "choice"),
        ({"tool": "cursor", "choice": "ship"}, 422, "voter_token"),
        ({"tool": "Cursor!", "choice": "ship", "voter_token": "x"}, 422, "tool"),
        ({"tool": "cursor", "choice": "ship", "voter_token": "x", "weight": 10}, 422, "weight"),
        ({"tool": "cursor", "choice": "ship", "voter_token": "x", "nonce": "a b"}, 422, "nonce"),
        ([], 422, "body"),
    ],
)
async def test_bad_ballots_are_refused_naming_the_field(client, body, status, field):
    response = await client.post("/v1/votes", json=body)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_forged_and_foreign_tokens_are_refused_and_recorded(client):
    before = await _discarded(client, "github-copilot", "bad token")
    foreign, _ = issue_token("another-secret-entirely-0123456789abcdef")
    for token in ("forged.token", foreign, await voter(client) + "x"):
        response = await client.post(
            "/v1/votes", json={"tool": "github-copilot", "choice": "ship", "voter_token": token}
        )
        assert response.status_code == 401
        assert response.json()["code"] == "bad-voter-token"
    # Only the foreign token had a token's shape: the garbled ones charge no tool.
    await eventually(lambda: _discarded_at_least(client, "github-copilot", "bad token", before + 1), within=5)
    assert (await tally(client, "github-copilot"))["integrity"]["counted"] == 0


async def _discarded_at_least(client, slug, reason, count) -> bool:
    return await _discarded(client, slug, reason) >= count


async def test_unknown_tool_oversized_and_malformed_bodies(client, db):
    token = await voter(client)
    unknown = await client.post(
        "/v1/votes", json={"tool": "no-such-tool", "choice": "ship", "voter_token": token}
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "unknown-tool"
    big = await client.post(
        "/v1/votes",
        content=b'{"tool": "cursor", "pad": "' + b"x" * 5000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert big.status_code == 413
    assert big.json()["limit_bytes"] == 4096
    not_utf8 = await client.post(
        "/v1/votes", content=b'{"tool": "\xff"}', headers={"content-type": "application/json"}
    )
    assert not_utf8.status_code == 400
    assert not_utf8.json()["code"] == "malformed-json"
    broken = await client.post(
        "/v1/votes", content=b'{"tool": ', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400
    assert broken.json()["code"] == "malformed-json"
    text = await client.post("/v1/votes", content=b"tool=cursor", headers={"content-type": "text/plain"})
    assert text.status_code == 415
    unknown_discards = (
        "SELECT count(*) FROM votes.discarded WHERE tool IS NULL AND reason = 'unknown tool' "
        "AND detail = 'no-such-tool'"
    )
    await eventually(lambda: db.fetchval(unknown_discards), within=5)
    assert await db.fetchval("SELECT count(*) FROM votes.ballots WHERE tool = 'no-such-tool'") == 0
    assert await db.fetchval("SELECT count(*) FROM votes.integrity WHERE tool = 'no-such-tool'") == 0


async def test_a_flooding_voter_is_rate_limited_and_counted_once(client):
    token = await voter(client)
    answers = await asyncio.gather(
        *(
            client.post("/v1/votes", json={"tool": "gemma-3", "choice": "skip", "voter_token": token})
            for _ in range(60)
        )
    )
    codes = [a.status_code for a in answers]
    assert codes.count(202) <= 4
    assert codes.count(429) >= 56
    limited = next(a for a in answers if a.status_code == 429)
    assert int(limited.headers["retry-after"]) >= 1
    await eventually(lambda: _counts(client, "gemma-3", (0, 1)), within=10, interval=0.1)
    await eventually(lambda: _discarded_at_least(client, "gemma-3", "rate limited", 56), within=5)


async def test_tally_interval_and_coalesced_events(client, settings):
    tokens = [issue_token(SECRET)[0] for _ in range(40)]
    choices = ["ship"] * 28 + ["skip"] * 12
    answers = await asyncio.gather(
        *(
            client.post("/v1/votes", json={"tool": "mistral-large", "choice": c, "voter_token": t})
            for t, c in zip(tokens, choices, strict=True)
        )
    )
    assert all(a.status_code == 202 for a in answers)
    await eventually(lambda: _counts(client, "mistral-large", (28, 12)), within=10, interval=0.1)
    body = await tally(client, "mistral-large")
    low, high = wilson_interval(28, 40)
    assert body["interval"]["low"] == round(100 * low, 1)
    assert body["interval"]["high"] == round(100 * high, 1)
    assert body["community_ship_pct"] == 70.0
    assert body["provisional"] is False

    await asyncio.sleep(1.5)  # the last coalesced event is out
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe(TallyUpdated.SUBJECT, stream=VOTES_STREAM.name, ordered_consumer=True)
        events = []
        while True:
            try:
                events.append(TallyUpdated.model_validate_json((await sub.next_msg(timeout=1)).data))
            except nats.errors.TimeoutError:
                break
    finally:
        await nc.close()
    mine = [e for e in events if e.tool_slug == "mistral-large"]
    assert 1 <= len(mine) <= 5  # 40 ballots, a handful of events
    assert (mine[-1].ship, mine[-1].skip, mine[-1].provisional) == (28, 12, False)


async def test_malformed_ballot_on_the_bus_is_dead_lettered(settings):
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        await js.publish("votes.ballot.cast", b'{"not": "a ballot"}', headers={"Nats-Msg-Id": "garbage-1"})

        async def parked() -> bool:
            info = await js.stream_info(DEAD_LETTER_STREAM.name)
            return info.state.messages >= 1

        await eventually(parked, within=10, interval=0.1)
        message = await js.get_last_msg(DEAD_LETTER_STREAM.name, "deadletter.votes.ballot.cast")
        assert "malformed ballot" in json.loads(message.data)["reason"]
    finally:
        await nc.close()


async def test_head_to_head_votes_rank_a_category(client):
    wins = [("gpt-4o", "gemini-2-5-pro", "a")] * 6 + [("gemini-2-5-pro", "gpt-4o", "a")] * 2
    wins += [("gpt-4o", "phi-3-mini", "a")] * 5 + [("gemini-2-5-pro", "phi-3-mini", "a")] * 4
    wins += [("gemini-2-5-pro", "phi-3-mini", "tie")] * 2
    for a, b, winner in wins:
        token = issue_token(SECRET)[0]
        response = await client.post(
            f"/v1/comparisons/{a}-vs-{b}/votes", json={"winner": winner, "voter_token": token}
        )
        assert response.status_code == 202, response.text

    async def ranked() -> list:
        body = (await client.get("/v1/rankings/Developer Tools")).json()
        return body["items"] if body["comparisons"] == len(wins) else []

    items = await eventually(ranked, within=15, interval=0.3)
    assert [i["slug"] for i in items] == ["gpt-4o", "gemini-2-5-pro", "phi-3-mini"]
    assert all(i["interval"]["low"] <= i["score"] <= i["interval"]["high"] for i in items)

    token = issue_token(SECRET)[0]
    same = await client.post(
        "/v1/comparisons/gpt-4o-vs-gpt-4o/votes", json={"winner": "a", "voter_token": token}
    )
    assert same.status_code == 422
    unknown = await client.post(
        "/v1/comparisons/gpt-4o-vs-nope/votes", json={"winner": "a", "voter_token": token}
    )
    assert unknown.status_code == 404
    assert (await client.get("/v1/rankings/No Such Category")).status_code == 404


async def test_a_page_form_votes_with_a_cookie_and_redirects_back(client):
    minted = await mint(client)
    assert minted.status_code == 201
    csrf = minted.json()["csrf"]
    assert client.cookies.get("verdicts_voter") == minted.json()["voter_token"]
    same_site = {"origin": "http://testserver.local", "sec-fetch-site": "same-origin"}
    form = {
        "tool": "qwen2-5-3b",
        "choice": "ship",
        "return_to": "/compare/qwen2-5-3b-vs-o4-mini/",
        "csrf": csrf,
    }
    try:
        first = await client.post("/v1/votes/form", data=form, headers=same_site, follow_redirects=False)
        assert first.status_code == 303, first.text
        assert first.headers["location"] == "/compare/qwen2-5-3b-vs-o4-mini/"
        await eventually(lambda: _counts(client, "qwen2-5-3b", (1, 0)), within=10, interval=0.1)
        changed = await client.post(
            "/v1/votes/form", data=form | {"choice": "skip"}, headers=same_site, follow_redirects=False
        )
        assert changed.status_code == 303
        await eventually(lambda: _counts(client, "qwen2-5-3b", (0, 1)), within=10, interval=0.1)
        bad_fields = [{"return_to": "//evil.example/"}, {"return_to": "https://evil.example/"}]
        bad_fields.append({"choice": "x"})
        for bad in bad_fields:
            refused = await client.post(
                "/v1/votes/form", data=form | bad, headers=same_site, follow_redirects=False
            )
            assert refused.status_code == 422
    finally:
        client.cookies.clear()
