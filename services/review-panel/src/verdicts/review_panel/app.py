"""review-panel: four reviewer personas write a review and a ship/skip verdict per tool."""

from __future__ import annotations

from pathlib import Path

import yaml
from faststream.nats import NatsRouter

from verdicts.contracts import PanelVerdictUpdated, ReviewCompleted, ReviewRequested
from verdicts.platform.service import ServiceSpec
from verdicts.platform.settings import PlatformSettings, load_settings, platform_settings
from verdicts.review_panel.api import build_routes
from verdicts.review_panel.config import PanelSettings
from verdicts.review_panel.handlers import register
from verdicts.review_panel.personas import PERSONAS_DIR, load_personas
from verdicts.review_panel.reviewer import Reviewer

NAME = "review-panel"
SCHEMA = "review_panel"


def create_app(platform: PlatformSettings | None = None) -> ServiceSpec:
    settings = load_settings(PanelSettings)
    platform = platform or platform_settings()
    personas = load_personas(settings.personas_dir or PERSONAS_DIR)
    assignment = {p.id: p.default_route for p in personas}
    if settings.assignment_file is not None:
        assignment |= {
            str(k): str(v) for k, v in (yaml.safe_load(settings.assignment_file.read_text()) or {}).items()
        }
    reviewer = Reviewer(settings, personas, assignment)
    router = NatsRouter()
    register(router, platform, settings, reviewer)
    router.publisher(ReviewRequested.SUBJECT, schema=ReviewRequested, title="ReviewRequested")
    router.publisher(ReviewCompleted.SUBJECT, schema=ReviewCompleted, title="ReviewCompleted")
    router.publisher(PanelVerdictUpdated.SUBJECT, schema=PanelVerdictUpdated, title="PanelVerdictUpdated")
    return ServiceSpec(
        name=NAME,
        schema=SCHEMA,
        router=router,
        route_handlers=build_routes(reviewer),
        migrations=Path(__file__).parent / "migrations",
    )
