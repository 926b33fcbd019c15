"""The services this entry point can run, by name (single binary, many targets)."""

from __future__ import annotations

import importlib

from verdicts.platform.service import ServiceSpec

SERVICE_MODULES: dict[str, str] = {
    "ingest": "verdicts.ingest.app",
    "review-panel": "verdicts.review_panel.app",
    "votes": "verdicts.votes.app",
    "render": "verdicts.render.app",
    "inference": "verdicts.inference.app",
}


def schema_of(name: str) -> str:
    """The PostgreSQL schema a service owns, read from its store (no app is built)."""
    package = SERVICE_MODULES[name].rsplit(".", 1)[0]
    schema: str = importlib.import_module(f"{package}.store").SCHEMA
    return schema


def load_service(name: str) -> ServiceSpec:
    spec: ServiceSpec = importlib.import_module(SERVICE_MODULES[name]).create_app()
    return spec


def load_all() -> list[ServiceSpec]:
    return [load_service(name) for name in SERVICE_MODULES]
