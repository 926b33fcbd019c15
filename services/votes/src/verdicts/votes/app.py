"""votes: community ship/skip ballots, one per voter, tallied exactly."""

from __future__ import annotations

import os
import secrets
from functools import partial
from pathlib import Path

from faststream.nats import NatsRouter

from verdicts.contracts import BallotCast, TallyUpdated
from verdicts.platform.service import ServiceSpec
from verdicts.platform.settings import PlatformSettings, SettingsError, load_settings, platform_settings
from verdicts.votes.api import Votes, build_routes
from verdicts.votes.config import VotesSettings
from verdicts.votes.consumer import publish_tallies, refit_rankings, write_ballots
from verdicts.votes.discards import DiscardLog
from verdicts.votes.handlers import register

NAME = "votes"
SCHEMA = "votes"


def token_secret(settings: VotesSettings, platform: PlatformSettings) -> str:
    """VERDICTS_VOTES_TOKEN_SECRET, or on the embedded stack a random secret kept (0600) in its home."""
    if settings.token_secret is not None:
        secret = settings.token_secret.get_secret_value()
        if len(secret) < 32:
            raise SettingsError("VERDICTS_VOTES_TOKEN_SECRET must be at least 32 characters")
        return secret
    path = platform.home / "votes-token-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def create_app(platform: PlatformSettings | None = None) -> ServiceSpec:
    settings = load_settings(VotesSettings)
    platform = platform or platform_settings()
    discards = DiscardLog(settings.discard_buffer)
    votes = Votes(settings, token_secret(settings, platform), discards)
    router = NatsRouter()
    register(router, platform)
    router.publisher(BallotCast.SUBJECT, schema=BallotCast, title="BallotCast")
    router.publisher(TallyUpdated.SUBJECT, schema=TallyUpdated, title="TallyUpdated")
    return ServiceSpec(
        name=NAME,
        schema=SCHEMA,
        router=router,
        route_handlers=build_routes(votes),
        migrations=Path(__file__).parent / "migrations",
        background=[
            partial(write_ballots, settings=settings),
            partial(publish_tallies, settings=settings),
            partial(refit_rankings, settings=settings),
            discards.run,
            votes.connect,
        ],
        ready_checks={"ballot-publisher": votes.publisher_ready},
    )
