"""OpenTelemetry SDK set-up: W3C trace context, OTLP export when configured."""

from __future__ import annotations

import os

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_configured = False
SANITIZE_FIELDS = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS"
SECRET_HEADERS = ("authorization", "cookie", "set-cookie", "x-api-key")
"""Redacted on spans even when an operator turns on header capture: keys never reach a trace."""


def redact_secret_headers() -> None:
    """Add the secret-bearing headers to whatever sanitize list the environment already names."""
    named = [f.strip() for f in os.environ.get(SANITIZE_FIELDS, "").split(",") if f.strip()]
    missing = [h for h in SECRET_HEADERS if h not in {n.lower() for n in named}]
    if missing:
        os.environ[SANITIZE_FIELDS] = ",".join([*named, *missing])


def configure_telemetry(service_name: str) -> TracerProvider:
    """Install a tracer provider once per process (standard ``OTEL_*`` variables apply)."""
    global _configured
    redact_secret_headers()
    provider = trace.get_tracer_provider()
    if _configured and isinstance(provider, TracerProvider):
        return provider
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
    sdk_provider = TracerProvider(resource=resource)
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        sdk_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(sdk_provider)
    propagate.set_global_textmap(TraceContextTextMapPropagator())
    _configured = True
    return sdk_provider


def current_trace_headers() -> dict[str, str]:
    """The W3C ``traceparent`` (and ``tracestate``) of the active span, for a message header."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier
