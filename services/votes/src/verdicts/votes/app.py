"""votes: community ship/skip ballots, one per voter, tallied exactly."""

from __future__ import annotations

from pathlib import Path

from faststream.nats import NatsRouter

from verdicts.contracts import BallotCast, TallyUpdated
from verdicts.platform.service import ServiceSpec

NAME = "votes"
SCHEMA = "votes"


def create_app() -> ServiceSpec:
    router = NatsRouter()
    router.publisher(BallotCast.SUBJECT, schema=BallotCast, title="BallotCast")
    router.publisher(TallyUpdated.SUBJECT, schema=TallyUpdated, title="TallyUpdated")
    return ServiceSpec(
        name=NAME, schema=SCHEMA, router=router, migrations=Path(__file__).parent / "migrations"
    )
