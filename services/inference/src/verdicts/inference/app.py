"""inference: serves the panel's models behind one request/reply contract."""

from __future__ import annotations

from pathlib import Path

from faststream.nats import NatsRouter

from verdicts.inference.api import build_router
from verdicts.inference.backends.anthropic_messages import AnthropicBackend
from verdicts.inference.backends.openai_compatible import OpenAICompatibleBackend
from verdicts.inference.config import InferenceSettings, Supervise
from verdicts.inference.domain import BackendKind
from verdicts.inference.gateway import Gateway
from verdicts.inference.handlers import GATEWAY, register
from verdicts.inference.model_routes import default_routes
from verdicts.inference.store import SCHEMA, PostgresLedger
from verdicts.inference.supervisor import ModelServerSupervisor, vllm_argv
from verdicts.platform.model_server import server_argv, smollm2_gguf
from verdicts.platform.service import BackgroundTask, Runtime, ServiceReadyCheck, ServiceSpec
from verdicts.platform.settings import PlatformSettings, load_settings, platform_settings

NAME = "inference"


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


def create_app(platform: PlatformSettings | None = None) -> ServiceSpec:
    settings = load_settings(InferenceSettings)
    platform = platform or platform_settings()
    gateway = build_gateway(settings)
    router = NatsRouter()
    register(router)
    supervisor = build_supervisor(settings, platform.home)

    async def attach_gateway(runtime: Runtime) -> None:
        gateway.ledger = PostgresLedger(runtime.pool)
        runtime.broker.context.set_global(GATEWAY, gateway)

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
            return await gateway.health(gateway.routes["local"])

        ready_checks["model"] = local_model

    return ServiceSpec(
        name=NAME,
        schema=SCHEMA,
        router=router,
        route_handlers=[build_router(gateway)],
        migrations=Path(__file__).parent / "migrations",
        ready_checks=ready_checks,
        background=background,
        on_startup=[attach_gateway],
        uses_outbox=False,
        metrics_registries=[gateway.metrics.registry],
    )
