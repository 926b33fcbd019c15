"""Prometheus metrics (prometheus-client), served at ``/metrics`` on every service's app.

One registry per process (prometheus-client's default), so the metrics are module-level objects any
module may count on; a ``service`` label tells the services of one process (``verdicts up``) apart.
A service with metrics of its own registry (inference's gateway) names it in its ``ServiceSpec``;
``/metrics`` serves the process's registry followed by those.

Gauges that describe state held elsewhere (outbox rows waiting, consumer lag) are read when scraped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from litestar import Request, get
from litestar.enums import ScopeType
from litestar.response import Response
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from verdicts.platform.access.guards import PUBLIC, SCHEMA_OPT
from verdicts.platform.db import check_schema_name

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

MESSAGES_HANDLED = Counter(
    "verdicts_messages_handled",
    "Bus messages handled, by outcome (ok, retry, dead_lettered, rejected, error)",
    ["service", "subject", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "verdicts_handler_seconds",
    "Time a bus handler took (a batch consumer: the whole batch)",
    ["service", "subject"],
    buckets=LATENCY_BUCKETS,
)
REDELIVERIES = Counter(
    "verdicts_redeliveries",
    "JetStream messages delivered more than once",
    ["service", "subject"],
)
DEAD_LETTERS = Counter(
    "verdicts_dead_letters",
    "Messages parked on deadletter.<subject>",
    ["service", "subject"],
)
OUTBOX_WAITING = Gauge(
    "verdicts_outbox_waiting",
    "Outbox rows waiting to be published (parked rows not counted); read when scraped",
    ["service"],
)
CONSUMER_LAG = Gauge(
    "verdicts_consumer_lag",
    "Messages in the stream not yet delivered to the durable consumer (num_pending); read when scraped",
    ["stream", "consumer"],
)
HTTP_REQUESTS = Counter(
    "verdicts_http_requests",
    "HTTP requests by route template, method and status",
    ["service", "route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "verdicts_http_request_seconds",
    "HTTP request latency by route template",
    ["service", "route"],
    buckets=LATENCY_BUCKETS,
)
VOTES_ACCEPTED = Counter("verdicts_votes_accepted", "Ballots acknowledged by JetStream (202)")
VOTES_DISCARDED = Counter("verdicts_votes_discarded", "Ballots refused, by reason", ["reason"])
PAGES_PUBLISHED = Counter("verdicts_pages_published", "Pages and documents published, by kind", ["kind"])

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SCRAPE_TIMEOUT_S = 3.0
PLATFORM = "platform"
"""The ``service`` of routes no one service owns (health, metrics, dead letters) in a many-service app."""


def handled(service: str, subject: str, outcome: str, seconds: float, count: int = 1) -> None:
    MESSAGES_HANDLED.labels(service, subject, outcome).inc(count)
    HANDLER_SECONDS.labels(service, subject).observe(seconds)


def http_metrics(services: Mapping[str, str]) -> Any:
    """ASGI middleware counting requests by route template (bounded cardinality, not the raw path).

    ``services`` maps a schema to its service's name: a route is its service's (the ``SCHEMA_OPT`` of
    its handler); the rest are ``platform``'s, or the one service's in a one-service app."""
    default = next(iter(services.values())) if len(services) == 1 else PLATFORM

    def middleware(app: ASGIApp) -> ASGIApp:
        async def count(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            status = 500

            async def send_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                await send(message)

            try:
                await app(scope, receive, send_status)
            finally:
                handler = scope.get("route_handler")
                schema = handler.opt.get(SCHEMA_OPT) if handler is not None else None
                service = services.get(schema or "", default)
                route = scope.get("path_template") or "unmatched"
                HTTP_REQUESTS.labels(service, route, scope.get("method", ""), str(status)).inc()
                HTTP_SECONDS.labels(service, route).observe(time.perf_counter() - started)

        return count

    return middleware


async def refresh_outbox_waiting(pools: Mapping[str, Any], services: Iterable[tuple[str, str]]) -> None:
    """``services``: (name, schema) of the services with an outbox; ``pools``: by schema."""
    for name, schema in services:
        pool = pools.get(schema)
        if pool is None:
            continue
        waiting = await pool.fetchval(
            f'SELECT count(*) FROM "{check_schema_name(schema)}".outbox '
            "WHERE published_at IS NULL AND parked_at IS NULL"
        )
        OUTBOX_WAITING.labels(name).set(int(waiting))


def durables(broker: Any, extra: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """(stream, durable) of ``broker``'s JetStream subscribers, and ``extra`` (batch consumers)."""
    found = set(extra)
    for subscriber in getattr(broker, "subscribers", ()):
        stream = getattr(getattr(subscriber, "stream", None), "name", None)
        durable = getattr(getattr(subscriber, "config", None), "durable_name", None)
        if stream and durable:
            found.add((stream, durable))
    return sorted(found)


async def refresh_consumer_lag(jetstream: Any, consumers: Iterable[tuple[str, str]]) -> None:
    """Each consumer's ``num_pending``, asked with the service's own connection (its user may)."""
    for stream, durable in consumers:
        try:
            info = await jetstream.consumer_info(stream, durable)
        except Exception:  # noqa: S112 - not created yet, or NATS away: the last value stands
            continue
        CONSUMER_LAG.labels(stream, durable).set(info.num_pending or 0)


async def refresh(runtime: Any) -> None:
    """The gauges read at scrape time, for the services of ``runtime`` (bounded by a timeout each)."""
    with_outbox = [(s.name, s.schema) for s in runtime.services if s.uses_outbox]
    with contextlib.suppress(Exception):
        await asyncio.wait_for(refresh_outbox_waiting(runtime.pools, with_outbox), SCRAPE_TIMEOUT_S)
    for spec in runtime.services:
        view = runtime.views.get(spec.schema)
        if view is None:
            continue
        with contextlib.suppress(Exception):
            consumers = durables(view.broker, spec.consumers)
            await asyncio.wait_for(refresh_consumer_lag(view.jetstream, consumers), SCRAPE_TIMEOUT_S)


def exposition(extra: Iterable[CollectorRegistry] = ()) -> bytes:
    """The process's registry, then each service's own (their metric names must not overlap)."""
    return b"".join(generate_latest(registry) for registry in (REGISTRY, *extra))


@get("/metrics", include_in_schema=False, guards=[PUBLIC])
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus exposition, public like the health probes (scrapers carry no key; the figures are
    counts and latencies, never keys, voters or bodies)."""
    runtime = request.app.state.runtime
    with contextlib.suppress(Exception):
        await refresh(runtime)
    registries = [r for spec in runtime.services for r in spec.metrics_registries]
    return Response(exposition(registries), media_type=CONTENT_TYPE)
