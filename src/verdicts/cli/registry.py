"""The services this entry point can run, by name (single binary, many targets)."""

from __future__ import annotations

import importlib
import inspect

from verdicts.platform.service import ServiceSpec
from verdicts.platform.settings import PlatformSettings

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


def load_service(name: str, platform: PlatformSettings | None = None) -> ServiceSpec:
    """``name``'s spec, built with ``platform`` settings (default: the environment's)."""
    create_app = importlib.import_module(SERVICE_MODULES[name]).create_app
    takes_settings = bool(inspect.signature(create_app).parameters)
    spec: ServiceSpec = create_app(platform) if takes_settings and platform is not None else create_app()
    return spec


def load_all(platform: PlatformSettings | None = None) -> list[ServiceSpec]:
    return [load_service(name, platform) for name in SERVICE_MODULES]
