"""inference: serves the panel's models behind one request/reply contract."""

from __future__ import annotations

from pathlib import Path

import httpx
from faststream.nats import NatsRouter

from verdicts.inference.api import build_routes
from verdicts.inference.backends.anthropic_messages import AnthropicBackend
from verdicts.inference.backends.openai_compatible import OpenAICompatibleBackend
from verdicts.inference.config import InferenceSettings, Supervise
from verdicts.inference.gateway import Gateway
from verdicts.inference.handlers import register
from verdicts.inference.routes import BackendKind, Route, default_routes
from verdicts.inference.store import PostgresLedger
from verdicts.inference.supervisor import ModelServerSupervisor, vllm_argv
from verdicts.platform.model_server import server_argv, smollm2_gguf
from verdicts.platform.service import BackgroundTask, Runtime, ServiceReadyCheck, ServiceSpec
from verdicts.platform.settings import PlatformSettings, load_settings

NAME = "inference"
SCHEMA = "inference"


def build_gateway(settings: InferenceSettings) -> Gateway:
    key = settings.anthropic_api_key.get_secret_value() if settings.anthropic_api_key else None
    backends = {
        BackendKind.OPENAI.value: OpenAICompatibleBackend(),
        BackendKind.ANTHROPIC.value: AnthropicBackend(key, settings.anthropic_base_url),
    }
    return Gateway(default_routes(settings), backends)  # type: ignore[arg-type]


def build_supervisor(settings: InferenceSettings, verdicts_home: Path) -> ModelServerSupervisor | None:
    """The model server this service runs itself, logging under ``$VERDICTS_HOME/inference``."""
    home = verdicts_home / "inference"
    if settings.supervise is Supervise.VLLM:
        return ModelServerSupervisor(
            "vllm",
            vllm_argv(settings),
            f"http://127.0.0.1:{settings.vllm_port}/v1/models",
            home / "vllm.log",
        )
    if settings.supervise is Supervise.LLAMA:
        port = int(settings.local_url.rsplit(":", 1)[1].split("/")[0])
        return ModelServerSupervisor(
            "llama.cpp",
            server_argv(smollm2_gguf(), port=port),
            f"http://127.0.0.1:{port}/v1/models",
            home / "llama.log",
        )
    return None


def create_app() -> ServiceSpec:
    settings = load_settings(InferenceSettings)
    gateway = build_gateway(settings)
    router = NatsRouter()
    register(router, gateway)
    supervisor = build_supervisor(settings, load_settings(PlatformSettings).home)

    async def attach_ledger(runtime: Runtime) -> None:
        gateway.ledger = PostgresLedger(runtime.pool)

    async def route_health(route: Route) -> str:
        if route.backend is not BackendKind.OPENAI or not route.base_url:
            return (
                "configured"
                if route.backend is BackendKind.OPENAI or settings.anthropic_api_key
                else "no api key"
            )
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                response = await client.get(f"{route.base_url.rstrip('/')}/models")
            return "ok" if response.status_code == 200 else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            return f"unreachable ({exc.__class__.__name__})"

    ready_checks: dict[str, ServiceReadyCheck] = {}
    background: list[BackgroundTask] = []
    if supervisor is not None:

        async def supervised(_: Runtime) -> str:
            return supervisor.status

        async def supervise(_: Runtime) -> None:
            await supervisor.run()

        ready_checks["model"] = supervised
        background.append(supervise)
    elif settings.local_url:

        async def local_model(_: Runtime) -> str:
            return await route_health(gateway.routes["local"])

        ready_checks["model"] = local_model

    return ServiceSpec(
        name=NAME,
        schema=SCHEMA,
        router=router,
        route_handlers=build_routes(gateway, route_health),
        migrations=Path(__file__).parent / "migrations",
        ready_checks=ready_checks,
        background=background,
        on_startup=[attach_ledger],
        uses_outbox=False,
    )
