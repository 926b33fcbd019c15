"""Head-to-head ballots ("Which would you ship with?") with the real NATS and PostgreSQL: through
JetStream like ship/skip ballots (202 after the ack, a retry with its nonce is one ballot, the
latest ballot of a voter on a pair counts), from the JSON API and from a comparison page's form
(same origin, the voter's cookie, its CSRF token or the browser's own same-origin word), ranked, and
each changed ranking published as `votes.ranking.updated`."""

from __future__ import annotations

import json

import nats
import pytest
from voter_testing import mint, voter, votes_serving

from verdicts.contracts import RankingUpdated
from verdicts.contracts.subjects import DEAD_LETTER_STREAM, VOTES_STREAM
from verdicts.platform.testing.plugin import eventually

pytestmark = pytest.mark.integration

MIN_COMPARISONS = 3
SAME_ORIGIN = {"origin": "http://testserver.local", "sec-fetch-site": "same-origin"}


@pytest.fixture(scope="module")
async def client(settings, monkeypatch_module):
    async with votes_serving(
        settings,
        monkeypatch_module,
        RANKING_SPACING_S="0.1",
        BOOTSTRAP_ROUNDS="20",
        RANKING_MIN_COMPARISONS=str(MIN_COMPARISONS),
        VOTER_BURST="100",
        VOTER_RATE_PER_S="100",
    ) as client:
        yield client


async def _stored(db, a: str, b: str) -> dict[str, str]:
    rows = await db.fetch("SELECT voter, winner FROM votes.head_to_head WHERE a = $1 AND b = $2", a, b)
    return {r["voter"]: r["winner"] for r in rows}


async def _ranking(client, category: str) -> dict:
    return (await client.get(f"/v1/rankings/{category}")).json()


async def test_a_ballot_is_accepted_after_the_ack_once_per_nonce_and_a_changed_one_replaces_it(client, db):
    token = await voter(client)
    ballot = {"winner": "a", "voter_token": token, "nonce": "h2h-retry-1"}
    first = await client.post("/v1/comparisons/cursor-vs-github-copilot/votes", json=ballot)
    again = await client.post("/v1/comparisons/cursor-vs-github-copilot/votes", json=ballot)
    assert (first.status_code, again.status_code) == (202, 200), (first.text, again.text)
    assert (first.json()["status"], again.json()["status"]) == ("accepted", "duplicate")
    assert first.json()["ballot_id"] == again.json()["ballot_id"]
    await eventually(lambda: _equals(_stored(db, "cursor", "github-copilot"), 1, len), within=60)
    (voter_id,) = (await _stored(db, "cursor", "github-copilot")).keys()
    assert (await _stored(db, "cursor", "github-copilot"))[voter_id] == "a"

    # The same voter, the other order in the path: "B vs A, a wins" is "A vs B, b wins".
    changed = await client.post(
        "/v1/comparisons/github-copilot-vs-cursor/votes", json={"winner": "a", "voter_token": token}
    )
    assert changed.status_code == 202, changed.text
    await eventually(lambda: _equals(_stored(db, "cursor", "github-copilot"), {voter_id: "b"}), within=60)

    ranking = await eventually(lambda: _ranked(client, "Code Editors", 1), within=60, interval=0.1)
    assert [i["slug"] for i in ranking["items"]] == ["github-copilot", "cursor"]
    assert ranking["provisional"] is True


async def _equals(got, expected, key=lambda v: v) -> bool:
    return key(await got) == expected


async def _ranked(client, category: str, comparisons: int) -> dict | None:
    body = await _ranking(client, category)
    return body if body["comparisons"] == comparisons else None


async def test_rankings_are_published_when_they_change_and_firm_past_the_minimum(client, settings):
    for winner in ("a", "a", "tie"):
        token = await voter(client)
        cast = await client.post(
            "/v1/comparisons/gpt-4o-vs-o4-mini/votes", json={"winner": winner, "voter_token": token}
        )
        assert cast.status_code == 202, cast.text
    ranking = await eventually(lambda: _ranked(client, "Developer Tools", 3), within=60, interval=0.1)
    assert ranking["provisional"] is False  # MIN_COMPARISONS reached
    assert [i["slug"] for i in ranking["items"]] == ["gpt-4o", "o4-mini"]

    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        last = await js.get_last_msg(VOTES_STREAM.name, RankingUpdated.SUBJECT)
        published = await eventually(lambda: _last_ranking(js, "Developer Tools", 3), within=60, interval=0.1)
        assert last is not None
        assert published.provisional is False
        assert [(i.slug, i.rank) for i in published.items] == [("gpt-4o", 1), ("o4-mini", 2)]
        assert all(i.low <= i.score <= i.high for i in published.items)
    finally:
        await nc.close()


async def _last_ranking(js, category: str, comparisons: int) -> RankingUpdated | None:
    message = await js.get_last_msg(VOTES_STREAM.name, RankingUpdated.SUBJECT)
    event = RankingUpdated.model_validate_json(message.data)
    return event if (event.category, event.comparisons) == (category, comparisons) else None


@pytest.mark.parametrize(
    ("pair", "body", "status", "code"),
    [
        ("gpt-4o-vs-nope", {"winner": "a"}, 404, "unknown-tool"),
        ("nope-vs-gpt-4o", {"winner": "tie"}, 404, "unknown-tool"),
        ("gpt-4o-vs-gpt-4o", {"winner": "a"}, 422, "same-tool"),
        ("gpt-4o-and-o4-mini", {"winner": "a"}, 404, "bad-pair"),
        ("gpt-4o-vs-o4-mini", {"winner": "c"}, 422, None),
        ("gpt-4o-vs-o4-mini", {"winner": "a", "nonce": "no spaces"}, 422, None),
    ],
)
async def test_bad_head_to_head_ballots_are_refused(client, pair, body, status, code):
    token = await voter(client)
    response = await client.post(f"/v1/comparisons/{pair}/votes", json=body | {"voter_token": token})
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    if code:
        assert response.json()["code"] == code


async def _form(client, fields: dict[str, str], headers: dict[str, str]):
    return await client.post(
        "/v1/votes/head-to-head/form", data=fields, headers=headers, follow_redirects=False
    )


async def test_the_page_form_takes_ballots_from_this_site_with_the_voter_s_cookie(client, db):
    minted = await mint(client)
    assert minted.status_code == 201, minted.text
    csrf = minted.json()["csrf"]
    page = "/compare/claude-4-sonnet-vs-smollm3/"
    form = {"a": "claude-4-sonnet", "b": "smollm3", "winner": "b", "return_to": page, "csrf": csrf}
    try:
        refusals = [
            (await _form(client, form, {"sec-fetch-site": "cross-site"}), 403, "foreign-origin"),
            (await _form(client, form, {"origin": "https://evil.example"}), 403, "foreign-origin"),
            (await _form(client, form | {"csrf": "x" * 30}, SAME_ORIGIN), 403, "bad-csrf-token"),
            # An empty token needs the browser's own word that the form is this site's.
            (
                await _form(client, form | {"csrf": ""}, {"origin": "http://testserver.local"}),
                403,
                "bad-csrf-token",
            ),
            (await _form(client, form | {"b": "claude-4-sonnet"}, SAME_ORIGIN), 422, "same-tool"),
            (await _form(client, form | {"b": "nope"}, SAME_ORIGIN), 404, "unknown-tool"),
        ]
        for response, status, code in refusals:
            assert (response.status_code, response.json().get("code")) == (status, code), response.text
        bad = await _form(client, form | {"winner": "both"}, SAME_ORIGIN)
        assert bad.status_code == 422

        taken = await _form(client, form, SAME_ORIGIN)
        assert (taken.status_code, taken.headers["location"]) == (303, page), taken.text
        await eventually(
            lambda: _equals(_stored(db, "claude-4-sonnet", "smollm3"), ["b"], _winners), within=60
        )
        # Without JavaScript the page cannot fill the token: the browser's Sec-Fetch-Site stands in.
        no_script = await _form(client, form | {"winner": "tie", "csrf": ""}, SAME_ORIGIN)
        assert no_script.status_code == 303, no_script.text
        await eventually(
            lambda: _equals(_stored(db, "claude-4-sonnet", "smollm3"), ["tie"], _winners), within=60
        )
    finally:
        client.cookies.clear()
    anonymous = await _form(client, form, SAME_ORIGIN)
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "bad-voter-token")


def _winners(stored: dict[str, str]) -> list[str]:
    return sorted(stored.values())


async def test_a_ballot_out_of_canonical_order_on_the_bus_is_dead_lettered(settings):
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        body = {"type": "verdicts.votes.head_to_head_cast.v1", "a": "o4-mini", "b": "gpt-4o", "winner": "a"}
        body |= {"voter_id": "v", "nonce": "", "event_id": "h2h-garbage-1"}
        await js.publish("votes.head_to_head.cast", json.dumps(body).encode(), headers={"Nats-Msg-Id": "x1"})

        async def parked() -> bool:
            info = await js.stream_info(DEAD_LETTER_STREAM.name)
            return info.state.messages >= 1

        await eventually(parked, within=60, interval=0.1)
        message = await js.get_last_msg(DEAD_LETTER_STREAM.name, "deadletter.votes.head_to_head.cast")
        assert "canonical order" in json.loads(message.data)["reason"]
    finally:
        await nc.close()
