"""OpenTelemetry SDK set-up: W3C trace context, OTLP export when configured, database spans.

Every asyncpg query is a span (``opentelemetry-instrumentation-asyncpg``) inside the trace it serves;
a query outside any trace (the loops' polls: outbox, render queue, tallies) starts none, so idle
polling does not fill the trace store.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

_configured = False
tracer = trace.get_tracer(__name__)
SANITIZE_FIELDS = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS"
SECRET_HEADERS = ("authorization", "cookie", "set-cookie", "x-api-key")
"""Redacted on spans even when an operator turns on header capture: keys never reach a trace."""


def redact_secret_headers() -> None:
    """Add the secret-bearing headers to whatever sanitize list the environment already names."""
    named = [f.strip() for f in os.environ.get(SANITIZE_FIELDS, "").split(",") if f.strip()]
    missing = [h for h in SECRET_HEADERS if h not in {n.lower() for n in named}]
    if missing:
        os.environ[SANITIZE_FIELDS] = ",".join([*named, *missing])


class NoRootDatabaseSpans(Sampler):
    """Samples ``ratio`` of root spans (by trace id, so every service agrees) but never a database
    call's (a poll outside any trace)."""

    def __init__(self, ratio: float = 1.0) -> None:
        self.ratio = TraceIdRatioBased(ratio)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if attributes and ("db.system" in attributes or "db.system.name" in attributes):
            return SamplingResult(Decision.DROP)
        return self.ratio.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"NoRootDatabaseSpans{{{self.ratio.rate}}}"


def default_sampler(ratio: float = 1.0) -> Sampler | None:
    """Ours unless the environment names one (``OTEL_TRACES_SAMPLER``). Sampling, not dropping:
    a span not sampled costs almost nothing, and a sampled trace is whole across services."""
    return None if os.environ.get("OTEL_TRACES_SAMPLER") else ParentBased(root=NoRootDatabaseSpans(ratio))


def instrument_asyncpg() -> None:
    """Database spans for every asyncpg query (statement text, no parameters)."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


def configure_telemetry(service_name: str, sample_ratio: float = 1.0) -> TracerProvider:
    """Install a tracer provider once per process (standard ``OTEL_*`` variables apply), recording
    ``sample_ratio`` of new traces."""
    global _configured
    redact_secret_headers()
    provider = trace.get_tracer_provider()
    if _configured and isinstance(provider, TracerProvider):
        return provider
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
    sdk_provider = TracerProvider(resource=resource, sampler=default_sampler(sample_ratio))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        sdk_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(sdk_provider)
    propagate.set_global_textmap(TraceContextTextMapPropagator())
    instrument_asyncpg()
    _configured = True
    return sdk_provider


def current_trace_headers() -> dict[str, str]:
    """The W3C ``traceparent`` (and ``tracestate``) of the active span, for a message header."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def current_traceparent() -> str | None:
    """The active span's ``traceparent``, for a row that carries work to a later span (a queue)."""
    return current_trace_headers().get("traceparent")


def span_context_of(traceparent: str | None) -> trace.SpanContext | None:
    """The remote span a stored ``traceparent`` names (``None`` when missing or malformed)."""
    if not traceparent:
        return None
    context = trace.get_current_span(propagate.extract({"traceparent": traceparent})).get_span_context()
    return context if context.is_valid else None


@contextlib.contextmanager
def span_from(
    name: str,
    traceparents: Iterable[str | None],
    *,
    child_of_first: bool,
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    attributes: Attributes = None,
) -> Iterator[trace.Span]:
    """A span resuming queued work: linked to the span of every ``traceparent`` (what was batched or
    coalesced), and the child of the first when ``child_of_first`` (one trace runs on through a queue
    that hands one piece of work on); else a root of its own (a batch of many traces)."""
    contexts = [c for c in (span_context_of(t) for t in traceparents) if c is not None]
    parent = None
    if child_of_first and contexts:
        parent = trace.set_span_in_context(trace.NonRecordingSpan(contexts[0]))
    elif not child_of_first:
        parent = Context()  # not the caller's (a loop's) context: a root linked to its inputs
    links = [trace.Link(c) for c in contexts]
    with tracer.start_as_current_span(
        name, context=parent, kind=kind, links=links, attributes=attributes
    ) as span:
        yield span
