"""ingest: takes new AI tools, validates, dedupes, stores and announces them."""

from __future__ import annotations

from pathlib import Path

from faststream.nats import NatsRouter

from verdicts.contracts import ToolAnnounced, ToolUpdated
from verdicts.ingest import store
from verdicts.ingest.api import build_router
from verdicts.ingest.catalogue import Catalogue
from verdicts.ingest.config import IngestSettings
from verdicts.platform.service import ServiceSpec
from verdicts.platform.settings import load_settings

NAME = "ingest"


def create_app() -> ServiceSpec:
    settings = load_settings(IngestSettings)
    catalogue = Catalogue(
        trust_model_family=settings.trust_model_family, max_batch_items=settings.max_batch_items
    )
    router = NatsRouter()
    # Published through the outbox relay; declared here so the AsyncAPI document shows them.
    router.publisher(ToolAnnounced.SUBJECT, schema=ToolAnnounced, title="ToolAnnounced")
    router.publisher(ToolUpdated.SUBJECT, schema=ToolUpdated, title="ToolUpdated")
    return ServiceSpec(
        name=NAME,
        schema=store.SCHEMA,
        router=router,
        route_handlers=[build_router(catalogue, settings)],
        migrations=Path(__file__).parent / "migrations",
    )
