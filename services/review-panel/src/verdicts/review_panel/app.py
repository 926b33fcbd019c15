"""review-panel: four reviewer personas write a review and a ship/skip verdict per tool."""

from __future__ import annotations

from pathlib import Path

from faststream.nats import NatsRouter

from verdicts.contracts import PanelVerdictUpdated, ReviewCompleted, ReviewRequested
from verdicts.platform.service import Runtime, ServiceSpec
from verdicts.platform.settings import PlatformSettings, load_settings, platform_settings
from verdicts.review_panel import store
from verdicts.review_panel.api import build_router
from verdicts.review_panel.config import PanelSettings
from verdicts.review_panel.handlers import REVIEWER, ROSTER, register
from verdicts.review_panel.personas import load_roster
from verdicts.review_panel.reviewer import Reviewer

NAME = "review-panel"


def create_app(platform: PlatformSettings | None = None) -> ServiceSpec:
    settings = load_settings(PanelSettings)
    platform = platform or platform_settings()
    roster = load_roster(settings.personas_dir, settings.assignment_file)
    reviewer = Reviewer(settings, roster)
    router = NatsRouter()
    register(router, platform, settings)
    # Published through the outbox relay; declared here so the AsyncAPI document shows them.
    router.publisher(ReviewRequested.SUBJECT, schema=ReviewRequested, title="ReviewRequested")
    router.publisher(ReviewCompleted.SUBJECT, schema=ReviewCompleted, title="ReviewCompleted")
    router.publisher(PanelVerdictUpdated.SUBJECT, schema=PanelVerdictUpdated, title="PanelVerdictUpdated")

    async def provide_collaborators(runtime: Runtime) -> None:
        runtime.broker.context.set_global(ROSTER, roster)
        runtime.broker.context.set_global(REVIEWER, reviewer)

    return ServiceSpec(
        name=NAME,
        schema=store.SCHEMA,
        router=router,
        route_handlers=[build_router(roster, settings)],
        migrations=Path(__file__).parent / "migrations",
        on_startup=[provide_collaborators],
    )
