"""The whole pipeline through crashes, small: every part (nats-server, PostgreSQL, llama.cpp and the
five services) killed with SIGKILL at least once while tools are announced, updated and voted on;
then panels, tallies, pages, effects and dead letters are checked against what the clients were
told (``pipeline_chaos``; ``python -m bench chaos`` runs the full size)."""

from __future__ import annotations

import os

import pytest
from pipeline_chaos import Sizes, run

pytestmark = [pytest.mark.e2e, pytest.mark.model, pytest.mark.slow]

SIZES = Sizes(
    tools=int(os.environ.get("VERDICTS_TEST_CHAOS_TOOLS", "2")),
    votes=int(os.environ.get("VERDICTS_TEST_CHAOS_VOTES", "600")),
    updates=1,
    ballots_per_voter=8,
    concurrency=8,
    votes_per_s=15,  # voting spans the round of kills (about 40 s)
    rounds=1,
    max_rounds=1,  # each part killed once (more would stall the panels past the budget)
    poison=1,
    review_timeout_s=15,  # a job held by a killed review-panel comes back after 60 s
    review_attempts=4,  # a model too slow on a busy machine ends a review as failed sooner
    budget_s=260,  # then the checks as they stand, before the timeout
    seed=int(os.environ.get("VERDICTS_TEST_CHAOS_SEED", "14")),
)


@pytest.mark.timeout(295)
async def test_the_pipeline_keeps_every_promise_through_crashes(tmp_path):
    report = await run(tmp_path, SIZES, say=print)
    print("\n".join(report.lines()))
    killed = {kill.what for kill in report.kills}
    assert killed == {"nats", "postgres", "llama", "ingest", "review-panel", "votes", "render", "inference"}
    voters = SIZES.votes // SIZES.ballots_per_voter
    assert report.counts["ballots accepted"] == voters * SIZES.ballots_per_voter
    for check in report.checks:
        assert check.ok, check.line()
    assert len(report.checks) == 5
