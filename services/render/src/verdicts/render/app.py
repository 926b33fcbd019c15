"""render: publishes comparison pages, tool pages, indexes and the weekly issue."""

from __future__ import annotations

from pathlib import Path

from faststream.nats import NatsRouter

from verdicts.contracts import PagePublished
from verdicts.platform.service import ServiceSpec

NAME = "render"
SCHEMA = "render"


def create_app() -> ServiceSpec:
    router = NatsRouter()
    router.publisher(PagePublished.SUBJECT, schema=PagePublished, title="PagePublished")
    return ServiceSpec(
        name=NAME, schema=SCHEMA, router=router, migrations=Path(__file__).parent / "migrations"
    )
