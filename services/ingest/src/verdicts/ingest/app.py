"""ingest: takes new AI tools, validates, dedupes, stores and announces them."""

from __future__ import annotations

from pathlib import Path

from faststream.nats import NatsRouter

from verdicts.contracts import ToolAnnounced, ToolUpdated
from verdicts.ingest.api import build_routes
from verdicts.ingest.config import IngestSettings
from verdicts.platform.service import ServiceSpec
from verdicts.platform.settings import load_settings

NAME = "ingest"
SCHEMA = "ingest"


def create_app() -> ServiceSpec:
    router = NatsRouter()
    # Published through the outbox relay; declared here so the AsyncAPI document shows them.
    router.publisher(ToolAnnounced.SUBJECT, schema=ToolAnnounced, title="ToolAnnounced")
    router.publisher(ToolUpdated.SUBJECT, schema=ToolUpdated, title="ToolUpdated")
    return ServiceSpec(
        name=NAME,
        schema=SCHEMA,
        router=router,
        route_handlers=build_routes(load_settings(IngestSettings)),
        migrations=Path(__file__).parent / "migrations",
    )
