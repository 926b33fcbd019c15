"""inference: serves the panel's models behind one request/reply contract."""

from __future__ import annotations

from pathlib import Path

import httpx
from faststream.nats import NatsRouter

from verdicts.inference.config import InferenceSettings
from verdicts.platform.service import Runtime, ServiceSpec
from verdicts.platform.settings import load_settings

NAME = "inference"
SCHEMA = "inference"


def create_app() -> ServiceSpec:
    settings = load_settings(InferenceSettings)

    async def model_ready(_: Runtime) -> str:
        if not settings.model_url:
            return "ok"
        async with httpx.AsyncClient(timeout=2.0) as client:
            response = await client.get(f"{settings.model_url.rstrip('/')}/models")
        return "ok" if response.status_code == 200 else f"HTTP {response.status_code}"

    return ServiceSpec(
        name=NAME,
        schema=SCHEMA,
        router=NatsRouter(),
        migrations=Path(__file__).parent / "migrations",
        ready_checks={"model": model_ready},
    )
