"""review-panel: four reviewer personas write a review and a ship/skip verdict per tool."""

from __future__ import annotations

from pathlib import Path

from faststream.nats import NatsRouter

from verdicts.contracts import PanelVerdictUpdated, ReviewCompleted
from verdicts.platform.service import ServiceSpec

NAME = "review-panel"
SCHEMA = "review_panel"


def create_app() -> ServiceSpec:
    router = NatsRouter()
    router.publisher(ReviewCompleted.SUBJECT, schema=ReviewCompleted, title="ReviewCompleted")
    router.publisher(PanelVerdictUpdated.SUBJECT, schema=PanelVerdictUpdated, title="PanelVerdictUpdated")
    return ServiceSpec(
        name=NAME, schema=SCHEMA, router=router, migrations=Path(__file__).parent / "migrations"
    )
