"""Every vote that got a 2xx is counted exactly once, and no other, whatever crashes: nats-server,
PostgreSQL and the votes service are each killed with SIGKILL and restarted while votes are cast,
ship/skip and head-to-head (each voter's latest per pair)."""

from __future__ import annotations

import os

import pytest
from vote_chaos import announce_tools, cast_all, head_to_head_settled, running_stack, settled

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VOTERS = int(os.environ.get("VERDICTS_TEST_CHAOS_VOTERS", "400"))


async def test_every_accepted_vote_is_counted_exactly_once_through_crashes(tmp_path):
    with running_stack(tmp_path) as stack:
        await announce_tools(stack)
        await settled(stack, {}, within=0)  # schema is there
        outcome = await cast_all(
            stack, voters=VOTERS, ballots_per_voter=5, concurrency=16, rounds=2, head_to_head_per_voter=2
        )
        assert sorted(outcome.kills) == ["nats"] * 2 + ["postgres"] * 2 + ["votes"] * 2
        assert outcome.accepted == VOTERS * 7
        assert outcome.refused >= VOTERS // 10  # the unknown-tool ballots: 404, never counted
        got = await settled(stack, outcome.expected, within=120)
        assert got == {t: +c for t, c in outcome.expected.items()}
        assert outcome.expected_head_to_head is not None
        duels = await head_to_head_settled(stack, outcome.expected_head_to_head, within=60)
        assert duels == outcome.expected_head_to_head
        assert sum(duels.values()) >= VOTERS  # two ballots each, a pair drawn twice is one changed
