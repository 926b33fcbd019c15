"""A full VOTES stream refuses ballots (503 bus-full, Retry-After) and loses none it accepted: every
202 ballot is counted, and once the stream has room the refused ones go in on retry."""

from __future__ import annotations

import nats
import pytest
from litestar.testing import AsyncTestClient
from voter_testing import announce, voter, votes_env

from verdicts.contracts import BallotCast
from verdicts.contracts.subjects import VOTES_STREAM
from verdicts.platform.delivery_settings import StreamLimits
from verdicts.platform.retention import trim_stream
from verdicts.platform.service import build_app
from verdicts.platform.testing.plugin import eventually
from verdicts.votes.app import create_app as votes_app

pytestmark = pytest.mark.integration

ROOM = 8  # messages the VOTES stream holds in this test (ballots and tallies together)
VOTERS = 20
TOOL = "cursor"


@pytest.fixture(scope="module")
async def client(settings, monkeypatch_module):
    for name, value in votes_env(VOTER_BURST="100", VOTER_RATE_PER_S="100").items():
        monkeypatch_module.setenv(name, value)
    tiny = settings.model_copy(update={"stream_limits": {"VOTES": StreamLimits(max_msgs=ROOM)}})
    async with AsyncTestClient(build_app([votes_app(tiny)], tiny)) as client:
        await announce(settings.nats_url, TOOL)
        await eventually(lambda: _known(client), within=20, interval=0.2)
        yield client


@pytest.fixture(scope="module")
async def js(nats_url):
    nc = await nats.connect(nats_url)
    yield nc.jetstream()
    await nc.close()


async def _known(client) -> bool:
    return (await client.get(f"/v1/tools/{TOOL}/votes")).status_code == 200


async def ships(client) -> int:
    return int((await client.get(f"/v1/tools/{TOOL}/votes")).json()["ship"])


async def ballots_stored(js) -> int:
    info = await js.stream_info(VOTES_STREAM.name)
    stored = 0
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        stored += (await js.get_msg(VOTES_STREAM.name, seq)).subject == BallotCast.SUBJECT
    return stored


async def cast(client, ballots: dict[str, str]) -> tuple[list[str], list[str]]:
    """POST each ``nonce -> token`` ballot; returns (accepted nonces, refused nonces)."""
    accepted, refused = [], []
    for nonce, token in ballots.items():
        answer = await client.post(
            "/v1/votes", json={"tool": TOOL, "choice": "ship", "voter_token": token, "nonce": nonce}
        )
        if answer.status_code == 503:
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.json()["code"] == "bus-full"
            assert int(answer.headers["retry-after"]) >= 1
            refused.append(nonce)
        else:
            assert answer.status_code == 202, answer.text
            accepted.append(nonce)
    return accepted, refused


async def test_a_full_votes_stream_answers_503_and_keeps_every_accepted_ballot(client, js):
    ballots = {f"full-{i}": await voter(client) for i in range(VOTERS)}
    accepted, refused = await cast(client, ballots)
    assert 0 < len(accepted) <= ROOM
    assert refused, "the tiny stream never filled"

    await eventually(lambda: _ships_are(client, len(accepted)), within=20, interval=0.1)
    info = await js.stream_info(VOTES_STREAM.name)
    assert info.state.first_seq == 1, "a stored message was dropped to make room"
    assert await ballots_stored(js) == len(accepted)

    # Room comes back only as the writer acknowledges and the stream is trimmed; refused ballots are
    # retried with their nonce until all are in.
    total = len(accepted)
    for _ in range(VOTERS):
        if not refused:
            break
        await eventually(lambda n=total: _ships_are(client, n), within=20, interval=0.1)
        await eventually(lambda: trim_stream(js, VOTES_STREAM, history_s=0), within=10, interval=0.1)
        more, refused = await cast(client, {nonce: ballots[nonce] for nonce in refused})
        total += len(more)
    assert refused == []
    await eventually(lambda: _ships_are(client, VOTERS), within=20, interval=0.1)


async def _ships_are(client, n: int) -> bool:
    return await ships(client) == n
