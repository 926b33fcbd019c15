"""votes: community ship/skip and head-to-head ballots, one per voter, tallied and ranked exactly."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path

from faststream.nats import NatsRouter

from verdicts.contracts import BallotCast, HeadToHeadCast, RankingUpdated, TallyUpdated
from verdicts.contracts.subjects import VOTES_STREAM
from verdicts.platform.service import Runtime, ServiceSpec
from verdicts.platform.settings import PlatformSettings, load_settings, platform_settings
from verdicts.votes import store
from verdicts.votes.api import Votes, build_router
from verdicts.votes.ballot_writer import (
    BALLOT_CONSUMER,
    HEAD_TO_HEAD_CONSUMER,
    prune_spent_challenges,
    publish_tallies,
    refit_rankings,
    write_ballots,
    write_head_to_head,
)
from verdicts.votes.config import VotesSettings, token_secret
from verdicts.votes.discards import DiscardLog
from verdicts.votes.handlers import register

NAME = "votes"


def create_app(platform: PlatformSettings | None = None) -> ServiceSpec:
    settings = load_settings(VotesSettings)
    platform = platform or platform_settings()
    discards = DiscardLog(settings.discard_buffer)
    votes = Votes(settings, discards)
    router = NatsRouter()
    register(router, platform)
    router.publisher(BallotCast.SUBJECT, schema=BallotCast, title="BallotCast")
    router.publisher(TallyUpdated.SUBJECT, schema=TallyUpdated, title="TallyUpdated")
    router.publisher(HeadToHeadCast.SUBJECT, schema=HeadToHeadCast, title="HeadToHeadCast")
    router.publisher(RankingUpdated.SUBJECT, schema=RankingUpdated, title="RankingUpdated")
    head_to_head_written = asyncio.Event()

    async def read_secret(runtime: Runtime) -> None:
        votes.use_secret(token_secret(settings, runtime.settings.home))

    async def ballot_publisher(runtime: Runtime) -> str:
        return "ok" if runtime.connected() else "connecting to NATS"

    return ServiceSpec(
        name=NAME,
        schema=store.SCHEMA,
        router=router,
        route_handlers=[build_router(votes)],
        migrations=Path(__file__).parent / "migrations",
        on_startup=[read_secret],
        background=[
            partial(write_ballots, settings=settings),
            partial(publish_tallies, settings=settings),
            partial(write_head_to_head, settings=settings, changed=head_to_head_written),
            partial(refit_rankings, settings=settings, changed=head_to_head_written),
            discards.run,
            prune_spent_challenges,
        ],
        ready_checks={"ballot-publisher": ballot_publisher},
        consumers=[(VOTES_STREAM.name, BALLOT_CONSUMER), (VOTES_STREAM.name, HEAD_TO_HEAD_CONSUMER)],
    )
