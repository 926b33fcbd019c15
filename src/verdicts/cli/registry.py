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


def load_service(name: str) -> ServiceSpec:
    spec: ServiceSpec = importlib.import_module(SERVICE_MODULES[name]).create_app()
    return spec


def load_all() -> list[ServiceSpec]:
    return [load_service(name) for name in SERVICE_MODULES]
