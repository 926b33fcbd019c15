"""Trace context through queues (``span_from``) and the sampler that keeps idle polls out of traces."""

from __future__ import annotations

import random

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision

from verdicts.platform import telemetry
from verdicts.platform.telemetry import NoRootDatabaseSpans, current_traceparent, default_sampler, span_from

pytestmark = pytest.mark.unit


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(telemetry, "tracer", provider.get_tracer("test"))
    return exporter


def traceparents(n: int, tracer: trace.Tracer) -> list[str]:
    found = []
    for _ in range(n):
        with tracer.start_as_current_span("cast"):
            parent = current_traceparent()
            assert parent is not None
            found.append(parent)
    return found


def test_queued_work_joins_the_first_trace_and_links_them_all(spans):
    queued = [*traceparents(2, telemetry.tracer), "not-a-traceparent", None]
    with span_from("render page", queued, child_of_first=True):
        pass
    (render,) = [s for s in spans.get_finished_spans() if s.name == "render page"]
    casts = [s for s in spans.get_finished_spans() if s.name == "cast"]
    assert render.parent is not None
    assert render.parent.span_id == casts[0].context.span_id
    assert render.context.trace_id == casts[0].context.trace_id
    assert [link.context.span_id for link in render.links] == [c.context.span_id for c in casts]


def test_a_batch_is_a_root_of_its_own_linked_to_each_message(spans):
    queued = traceparents(3, telemetry.tracer)
    with telemetry.tracer.start_as_current_span("loop"), span_from("batch", queued, child_of_first=False):
        pass
    (batch,) = [s for s in spans.get_finished_spans() if s.name == "batch"]
    assert batch.parent is None  # not the loop's child either
    assert len(batch.links) == 3
    assert {link.context.trace_id for link in batch.links} != {batch.context.trace_id}


def test_a_database_call_outside_any_trace_is_not_sampled_and_other_roots_are():
    sampler = NoRootDatabaseSpans()
    poll = sampler.should_sample(None, 1, "SELECT", attributes={"db.system": "postgresql"})
    assert poll.decision is Decision.DROP
    request = sampler.should_sample(None, 1, "POST /v1/tools", attributes={"http.method": "POST"})
    assert request.decision is Decision.RECORD_AND_SAMPLE


def test_a_share_of_new_traces_is_recorded_and_a_sampled_trace_stays_whole():
    sampler = default_sampler(0.1)
    assert sampler is not None
    roots = [sampler.should_sample(None, random.getrandbits(128), "POST /v1/votes") for _ in range(2000)]
    recorded = sum(r.decision is Decision.RECORD_AND_SAMPLE for r in roots)
    assert 100 < recorded < 300  # about 10 %
    sampled_parent = trace.set_span_in_context(
        trace.NonRecordingSpan(
            trace.SpanContext(1, 2, is_remote=True, trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED))
        )
    )
    child = sampler.should_sample(sampled_parent, 1, "vote batch")
    assert child.decision is Decision.RECORD_AND_SAMPLE
