"""One service (or all of them) as a Litestar app owning its broker, pool and loops.

``create_app()`` in each service returns a ``ServiceSpec``; ``build_app`` turns one
spec (``verdicts run NAME``, one pod) or all of them (``verdicts up``) into an ASGI app.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from faststream.nats import NatsBroker, NatsRouter
from litestar import Litestar, Router
from litestar.di import Provide
from litestar.exceptions import ClientException
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin
from litestar.types import ControllerRouterHandler
from nats.js.api import PubAck
from nats.js.client import JetStreamContext
from opentelemetry import propagate, trace
from prometheus_client import CollectorRegistry

from verdicts.contracts.base import Event
from verdicts.platform import health, metrics
from verdicts.platform.access import store as access_store
from verdicts.platform.access.guards import SCHEMA_OPT, KeyRing, caller
from verdicts.platform.broker import make_broker
from verdicts.platform.db import create_pool, migrate, migrate_connection
from verdicts.platform.deadletters_api import DeadLetterController
from verdicts.platform.http import body_too_large, client_problem, not_utf8
from verdicts.platform.logs import configure_logging
from verdicts.platform.openapi import document_access, openapi_config, reference_assets
from verdicts.platform.outbox import OutboxRelay, event_headers
from verdicts.platform.ratelimit import RateLimiter
from verdicts.platform.retention import trim_forever
from verdicts.platform.security_headers import security_headers
from verdicts.platform.settings import PlatformSettings, platform_settings
from verdicts.platform.streams import provision_streams
from verdicts.platform.telemetry import configure_telemetry

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

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
    metrics_registries: Sequence[CollectorRegistry] = ()
    """The service's own Prometheus registries, served after the process's at ``/metrics``."""
    consumers: Sequence[tuple[str, str]] = ()
    """(stream, durable) of consumers outside FastStream (batch consumers), for the lag gauge."""


PUBLISH_TIMEOUT_S = 5.0
"""How long a publish waits for JetStream's ack (the stream's disk sync included) before failing."""


class Runtime:
    """Live resources shared by the services of one process.

    A plain class, not a dataclass: Litestar injects it into routes as it is (a dataclass
    would be validated field by field on every request).

    Each service sees its own view (``views[schema]``: the same broker, keys and tasks, but
    ``pool`` logged in as that service's database role); its routes, loops and start-up hooks
    get that view. ``pool`` of the process's runtime is the first service's."""

    __slots__ = (
        "broker",
        "brokers",
        "keys",
        "pool",
        "pools",
        "public_limiter",
        "schema",
        "services",
        "settings",
        "tasks",
        "views",
    )

    def __init__(
        self,
        settings: PlatformSettings,
        broker: NatsBroker,
        services: Sequence[ServiceSpec],
        brokers: Mapping[str, NatsBroker] | None = None,
    ) -> None:
        self.settings = settings
        self.broker = broker
        # Per schema: the broker connected as that service's own NATS user (its view's ``broker``).
        self.brokers: dict[str, NatsBroker] = dict(brokers or {})
        self.services = services
        self.pool: asyncpg.Pool
        self.keys: KeyRing
        self.public_limiter = RateLimiter(settings.public_rate_per_s, settings.public_burst)
        self.tasks: list[asyncio.Task[None]] = []
        self.pools: dict[str, asyncpg.Pool] = {}
        self.schema: str | None = None
        self.views: dict[str, Runtime] = {}
        for spec in services:
            view = copy.copy(self)
            view.schema = spec.schema
            view.broker = self.brokers.get(spec.schema, broker)
            self.views[spec.schema] = view

    def pool_for(self, schema: str | None) -> asyncpg.Pool:
        """The pool of ``schema``'s service (its own role), else this runtime's."""
        pool = self.pools.get(schema or "")
        return self.pool if pool is None else pool

    @property
    def service_names(self) -> list[str]:
        return [s.name for s in self.services]

    @property
    def jetstream(self) -> JetStreamContext:
        """JetStream on the broker's own connection (no second connection per service)."""
        return self.broker.connection.jetstream()

    def all_brokers(self) -> list[NatsBroker]:
        """Every connection of this process: one per service (each its own NATS user)."""
        return list({id(b): b for b in [self.broker, *self.brokers.values()]}.values())

    def connected(self) -> bool:
        with contextlib.suppress(Exception):
            return all(b.connection.is_connected for b in self.all_brokers())
        return False

    async def publish_acked(self, event: Event, *, timeout_s: float = PUBLISH_TIMEOUT_S) -> PubAck:
        """The hot-path publisher (votes): ``event`` straight onto its stream, awaiting the ack.
        ``Nats-Msg-Id`` de-duplicates a retry. Raises when NATS is away or the stream refuses it."""
        with tracer.start_as_current_span(f"{event.SUBJECT} publish", kind=trace.SpanKind.PRODUCER):
            return await self.publish_to_stream(
                event.SUBJECT, event.model_dump_json().encode(), event_headers(event), timeout_s=timeout_s
            )

    async def publish_to_stream(
        self, subject: str, payload: bytes, headers: dict[str, str], *, timeout_s: float = PUBLISH_TIMEOUT_S
    ) -> PubAck:
        """Publish and wait for the JetStream ack, carrying the current span's ``traceparent`` (also
        the outbox relay's publisher).

        Plain nats-py on the shared connection, without FastStream's per-message middleware (about
        half the cost of a publish on the hot paths)."""
        headers = dict(headers)
        propagate.inject(headers)
        return await self.jetstream.publish(
            subject, payload, headers=headers, stream=stream_for(subject), timeout=timeout_s
        )


@functools.cache  # a handful of subjects, asked on every hot-path publish
def stream_for(subject: str) -> str:
    from verdicts.contracts.subjects import ALL_STREAMS

    for stream in ALL_STREAMS:
        if any(subject.startswith(s.removesuffix(">")) for s in stream.subjects):
            return stream.name
    raise ValueError(f"no stream captures subject {subject!r}")


async def _open_pools(runtime: Runtime) -> None:
    """One pool per service, logged in with its schema's URL (services sharing a URL share a pool)."""
    settings = runtime.settings
    by_url: dict[str, asyncpg.Pool] = {}
    for spec in runtime.services:
        url = settings.database_url_for(spec.schema)
        if url not in by_url:
            by_url[url] = await create_pool(url, max_size=settings.db_pool_max)
        runtime.pools[spec.schema] = by_url[url]
    runtime.pool = runtime.pools[runtime.services[0].schema]


async def _migrate_access(runtime: Runtime) -> None:
    """The keys schema, by its owner when its URL is given; a service role only checks it is current."""
    owner_url = runtime.settings.database_urls.get(access_store.SCHEMA)
    if not owner_url:
        await migrate(runtime.pool, access_store.SCHEMA, access_store.MIGRATIONS, platform_tables=False)
        return
    conn = await asyncpg.connect(owner_url)
    try:
        await migrate_connection(conn, access_store.SCHEMA, access_store.MIGRATIONS, platform_tables=False)
    finally:
        await conn.close()


async def start_runtime(runtime: Runtime) -> None:
    settings = runtime.settings
    await _open_pools(runtime)
    await _migrate_access(runtime)
    for spec in runtime.services:
        await migrate(runtime.pools[spec.schema], spec.schema, spec.migrations)
    runtime.keys = KeyRing(runtime.pool, settings.database_url_for(runtime.services[0].schema))
    for view in runtime.views.values():
        view.pool = runtime.pools[view.schema or ""]
        view.keys = runtime.keys
    await runtime.keys.start()
    if settings.provision_streams:
        await provision_streams(
            settings.nats_url, duplicate_window_s=settings.duplicate_window_s, settings=settings
        )
    for view in [runtime, *runtime.views.values()]:
        # Each service's broker (its own NATS user) gives its handlers its own view and pool.
        view.broker.context.set_global("runtime", view)
        view.broker.context.set_global("pool", view.pool)
        # Bus handlers ask for their own service's pool: ``Context("pools.<schema>")``.
        view.broker.context.set_global("pools", runtime.pools)
    for spec in runtime.services:
        for hook in spec.on_startup:
            await hook(runtime.views[spec.schema])
    for broker in runtime.all_brokers():
        await broker.start()
    for spec in runtime.services:
        if spec.uses_outbox:
            relay = OutboxRelay(
                runtime.pools[spec.schema],
                spec.schema,
                runtime.views[spec.schema].publish_to_stream,
                poll_s=settings.outbox_poll_s,
                max_backoff_s=settings.outbox_max_backoff_s,
                max_attempts=settings.outbox_max_attempts,
            )
            runtime.tasks.append(asyncio.create_task(relay.run(), name=f"outbox:{spec.name}"))
        for task in spec.background:
            view = runtime.views[spec.schema]
            runtime.tasks.append(asyncio.create_task(task(view), name=f"{spec.name}:{task}"))
    if settings.provision_streams:  # the stream-admin user trims what every consumer acknowledged
        runtime.tasks.append(asyncio.create_task(trim_forever(settings.nats_url, settings), name="trim"))
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
    for broker in runtime.all_brokers():
        await broker.stop()
    for pool in {id(p): p for p in runtime.pools.values()}.values():
        with contextlib.suppress(Exception):
            await asyncio.wait_for(pool.close(), 10)
    runtime.pools.clear()


def build_runtime(specs: Sequence[ServiceSpec], settings: PlatformSettings | None = None) -> Runtime:
    """One broker per service, each logged in as the service's own NATS user (when configured),
    so even `verdicts up`'s single process gives every service only its own subjects."""
    settings = settings or platform_settings()
    brokers = {}
    for spec in specs:
        brokers[spec.schema] = make_broker(settings, name=spec.name, schema=spec.schema)
        brokers[spec.schema].include_router(spec.router)
    broker = brokers[specs[0].schema] if specs else make_broker(settings, name="none")
    return Runtime(settings=settings, broker=broker, services=specs, brokers=brokers)


def _service_routes(spec: ServiceSpec, view: Runtime) -> Router:
    """A service's routes, given its own view of the runtime and its own pool (its database role)."""

    def own_runtime() -> Runtime:
        return view

    def own_pool() -> asyncpg.Pool:
        return view.pool

    return Router(
        path="/",
        route_handlers=list(spec.route_handlers),
        dependencies={
            "runtime": Provide(own_runtime, sync_to_thread=False),
            "pool": Provide(own_pool, sync_to_thread=False),
        },
        opt={SCHEMA_OPT: spec.schema},
    )


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
    configure_telemetry("verdicts-" + "+".join(s.name for s in specs), settings.trace_sample_ratio)
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

    handlers: list[ControllerRouterHandler] = [
        health.live,
        health.ready,
        metrics.metrics,
        reference_assets(),
        DeadLetterController,
    ]
    for spec in specs:
        handlers.append(_service_routes(spec, runtime.views[spec.schema]))
    app = Litestar(
        route_handlers=handlers,
        lifespan=[lifespan],
        plugins=[
            ProblemDetailsPlugin(ProblemDetailsConfig(enable_for_all_http_exceptions=True)),
            OpenTelemetryPlugin(
                # One span per request (probes and scrapes none); per-chunk send/receive spans cost
                # ~10% CPU and say little.
                OpenTelemetryConfig(exclude=["/health", "/metrics"], exclude_spans=["receive", "send"])
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
        middleware=[security_headers, metrics.http_metrics({s.schema: s.name for s in specs})],
        debug=debug,
        logging_config=None,  # ours: JSON lines with trace ids (configure_logging)
    )
    app.state.runtime = runtime
    document_access(app)
    return app
