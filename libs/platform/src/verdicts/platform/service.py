"""One service (or all of them) as a Litestar app owning its broker, pool and loops.

``create_app()`` in each service returns a ``ServiceSpec``; ``build_app`` turns one
spec (``verdicts run NAME``, one pod) or all of them (``verdicts up``) into an ASGI app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from faststream.nats import NatsBroker, NatsRouter
from litestar import Litestar
from litestar.di import Provide
from litestar.exceptions import ClientException
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin
from litestar.types import ControllerRouterHandler
from nats.js.api import PubAck
from nats.js.client import JetStreamContext
from opentelemetry import propagate

from verdicts.contracts.base import Event
from verdicts.platform import health
from verdicts.platform.access import store as access_store
from verdicts.platform.access.guards import KeyRing, caller
from verdicts.platform.broker import make_broker
from verdicts.platform.db import create_pool, migrate
from verdicts.platform.http import body_too_large, client_problem, not_utf8
from verdicts.platform.logs import configure_logging
from verdicts.platform.openapi import document_access, openapi_config, reference_assets
from verdicts.platform.outbox import OutboxRelay, event_headers
from verdicts.platform.ratelimit import RateLimiter
from verdicts.platform.security_headers import security_headers
from verdicts.platform.settings import PlatformSettings, platform_settings
from verdicts.platform.streams import provision_streams
from verdicts.platform.telemetry import configure_telemetry

log = logging.getLogger(__name__)

BackgroundTask = Callable[["Runtime"], Coroutine[Any, Any, None]]
StartupHook = Callable[["Runtime"], Awaitable[None]]
"""Runs after migrations, before the broker starts consuming."""
ServiceReadyCheck = Callable[["Runtime"], Awaitable[str]]
"""Returns "ok" when ready, else a short reason."""


@dataclass(slots=True)
class ServiceSpec:
    """What a service brings: its schema, bus handlers, HTTP routes and loops."""

    name: str
    schema: str
    router: NatsRouter = field(default_factory=NatsRouter)
    route_handlers: Sequence[ControllerRouterHandler] = ()
    migrations: Path | None = None
    background: Sequence[BackgroundTask] = ()
    ready_checks: Mapping[str, ServiceReadyCheck] = field(default_factory=dict)
    on_startup: Sequence[StartupHook] = ()
    uses_outbox: bool = True


class Runtime:
    """Live resources shared by the services of one process.

    A plain class, not a dataclass: Litestar injects it into routes as it is (a dataclass
    would be validated field by field on every request)."""

    __slots__ = ("broker", "keys", "pool", "public_limiter", "services", "settings", "tasks")

    def __init__(
        self, settings: PlatformSettings, broker: NatsBroker, services: Sequence[ServiceSpec]
    ) -> None:
        self.settings = settings
        self.broker = broker
        self.services = services
        self.pool: asyncpg.Pool
        self.keys: KeyRing
        self.public_limiter = RateLimiter(settings.public_rate_per_s, settings.public_burst)
        self.tasks: list[asyncio.Task[None]] = []

    @property
    def service_names(self) -> list[str]:
        return [s.name for s in self.services]

    @property
    def jetstream(self) -> JetStreamContext:
        """JetStream on the broker's own connection (no second connection per service)."""
        return self.broker.connection.jetstream()

    def connected(self) -> bool:
        with contextlib.suppress(Exception):
            return bool(self.broker.connection.is_connected)
        return False

    async def publish_acked(self, event: Event, *, timeout_s: float = 5.0) -> PubAck:
        """The hot-path publisher (votes): ``event`` straight onto its stream, awaiting the ack.

        Plain nats-py on the shared connection, without FastStream's per-message middleware
        (about half the cost); ``Nats-Msg-Id`` de-duplicates a retry, ``traceparent`` is carried.
        Raises when NATS is away or the stream refuses the message."""
        headers = event_headers(event)
        propagate.inject(headers)
        return await self.jetstream.publish(
            event.SUBJECT,
            event.model_dump_json().encode(),
            headers=headers,
            stream=stream_for(event.SUBJECT),
            timeout=timeout_s,
        )

    async def publish_to_stream(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        """Publish and wait for the JetStream ack (the outbox relay's publisher)."""
        ack = await self.broker.publish(payload, subject, headers=headers, stream=stream_for(subject))
        if not isinstance(ack, PubAck):
            raise RuntimeError(f"no JetStream ack for {subject}")


def stream_for(subject: str) -> str:
    from verdicts.contracts.subjects import ALL_STREAMS

    for stream in ALL_STREAMS:
        if any(subject.startswith(s.removesuffix(">")) for s in stream.subjects):
            return stream.name
    raise ValueError(f"no stream captures subject {subject!r}")


async def start_runtime(runtime: Runtime) -> None:
    settings = runtime.settings
    runtime.pool = await create_pool(settings.database_url, max_size=settings.db_pool_max)
    await migrate(runtime.pool, access_store.SCHEMA, access_store.MIGRATIONS, platform_tables=False)
    for spec in runtime.services:
        await migrate(runtime.pool, spec.schema, spec.migrations)
    runtime.keys = KeyRing(runtime.pool, settings.database_url)
    await runtime.keys.start()
    await provision_streams(settings.nats_url, duplicate_window_s=settings.duplicate_window_s)
    runtime.broker.context.set_global("runtime", runtime)
    runtime.broker.context.set_global("pool", runtime.pool)
    for spec in runtime.services:
        for hook in spec.on_startup:
            await hook(runtime)
    await runtime.broker.start()
    for spec in runtime.services:
        if spec.uses_outbox:
            relay = OutboxRelay(
                runtime.pool,
                spec.schema,
                runtime.publish_to_stream,
                poll_s=settings.outbox_poll_s,
                max_backoff_s=settings.outbox_max_backoff_s,
            )
            runtime.tasks.append(asyncio.create_task(relay.run(), name=f"outbox:{spec.name}"))
        for task in spec.background:
            runtime.tasks.append(asyncio.create_task(task(runtime), name=f"{spec.name}:{task}"))
    log.info("services started", extra={"services": runtime.service_names})


async def stop_runtime(runtime: Runtime) -> None:
    for task in runtime.tasks:
        task.cancel()
    for task in runtime.tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    runtime.tasks.clear()
    with contextlib.suppress(AttributeError):
        await runtime.keys.stop()
    await runtime.broker.stop()
    with contextlib.suppress(AttributeError):
        await asyncio.wait_for(runtime.pool.close(), 10)


def build_runtime(specs: Sequence[ServiceSpec], settings: PlatformSettings | None = None) -> Runtime:
    settings = settings or platform_settings()
    broker = make_broker(settings, name="+".join(s.name for s in specs))
    for spec in specs:
        broker.include_router(spec.router)
    return Runtime(settings=settings, broker=broker, services=specs)


def build_app(
    specs: Sequence[ServiceSpec],
    settings: PlatformSettings | None = None,
    *,
    debug: bool = False,
    on_started: Sequence[Callable[[], None]] = (),
) -> Litestar:
    """The ASGI app for ``specs``; its lifespan starts and stops everything they need."""
    settings = settings or platform_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    configure_telemetry("verdicts-" + "+".join(s.name for s in specs))
    runtime = build_runtime(specs, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await start_runtime(runtime)
        for callback in on_started:
            callback()
        try:
            yield
        finally:
            await stop_runtime(runtime)

    handlers: list[ControllerRouterHandler] = [health.live, health.ready, reference_assets()]
    for spec in specs:
        handlers.extend(spec.route_handlers)
    app = Litestar(
        route_handlers=handlers,
        lifespan=[lifespan],
        plugins=[
            ProblemDetailsPlugin(ProblemDetailsConfig(enable_for_all_http_exceptions=True)),
            OpenTelemetryPlugin(
                # One span per request; per-chunk send/receive spans cost ~10% CPU and say little.
                OpenTelemetryConfig(exclude=["/health"], exclude_spans=["receive", "send"])
            ),
        ],
        exception_handlers={
            ClientException: client_problem,
            413: body_too_large,
            UnicodeDecodeError: not_utf8,
        },
        # What routes may ask for by parameter name (see ``verdicts.platform.deps``).
        dependencies={
            "runtime": Provide(lambda: runtime, sync_to_thread=False),
            "pool": Provide(lambda: runtime.pool, sync_to_thread=False),
            "caller": Provide(caller, sync_to_thread=False),
        },
        openapi_config=openapi_config("Verdicts", "1"),
        middleware=[security_headers],
        debug=debug,
        logging_config=None,  # ours: JSON lines with trace ids (configure_logging)
    )
    app.state.runtime = runtime
    document_access(app)
    return app
