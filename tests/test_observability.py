"""What an operator sees: one trace from ``POST /v1/tools`` through the panel and its model call to the
page published (database and model spans in it), the votes hot path linked through its batches, and
Prometheus metrics on every service's ``/metrics``.

One stack (all five services) with a one-persona panel, so one review is generated, on the real local
model (llama.cpp serving SmolLM2): the model-call spans are the gateway's own. Spans are read from the
SDK's in-memory exporter.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import httpx
import pytest
from litestar.testing import AsyncTestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from panel_testing import SAMPLE, bearer, operator_key
from voter_testing import voter

from verdicts.contracts import BallotCast, PagePublished, PanelVerdictUpdated, TallyUpdated
from verdicts.inference.app import create_app as inference_app
from verdicts.ingest.app import create_app as ingest_app
from verdicts.platform.service import ServiceSpec, build_app
from verdicts.platform.telemetry import configure_telemetry
from verdicts.platform.testing.plugin import eventually, served
from verdicts.render.app import create_app as render_app
from verdicts.review_panel.app import create_app as panel_app
from verdicts.review_panel.personas import PERSONAS_DIR
from verdicts.votes.app import create_app as votes_app

pytestmark = [pytest.mark.e2e, pytest.mark.model, pytest.mark.slow]

TOOL = SAMPLE[0]  # Claude 4 Sonnet: reviewed on `local` (SmolLM2), no self-judging
SLUG = "claude-4-sonnet"


@pytest.fixture(scope="module")
def exporter() -> Iterable[InMemorySpanExporter]:
    provider = configure_telemetry("verdicts-test")
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    yield spans
    spans.shutdown()  # the processor stays on the process's provider; a stopped exporter drops


@pytest.fixture(scope="module")
def specs_env(settings, llama_server, monkeypatch_module, tmp_path_factory) -> None:
    monkeypatch_module.setenv("VERDICTS_MODEL_URL", llama_server.url)
    monkeypatch_module.setenv("VERDICTS_INGEST_TRUST_MODEL_FAMILY", "true")
    monkeypatch_module.setenv("VERDICTS_VOTES_TOKEN_SECRET", "observability-secret-0123456789abcdef-xyz")
    monkeypatch_module.setenv("VERDICTS_RENDER_SITE_DIR", str(tmp_path_factory.mktemp("site")))
    personas = tmp_path_factory.mktemp("personas")  # a panel of one: one review, one model call
    first = sorted(Path(PERSONAS_DIR).glob("*.yaml"))[0]
    shutil.copy(first, personas / first.name)
    monkeypatch_module.setenv("VERDICTS_REVIEW_PANEL_PERSONAS_DIR", str(personas))


def all_specs(settings) -> list[ServiceSpec]:
    return [ingest_app(), panel_app(settings), inference_app(), votes_app(settings), render_app(settings)]


@pytest.fixture(scope="module")
async def api(settings, database_url, specs_env, exporter):
    key = await operator_key(database_url)
    app = build_app(all_specs(settings), settings)
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=30, headers=bearer(key)) as client:
        yield client


def by_trace(spans: Iterable[ReadableSpan], trace_id: int) -> list[ReadableSpan]:
    return [s for s in spans if s.context is not None and s.context.trace_id == trace_id]


def ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    chain = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        chain.append(span)
    return chain


def describe(exporter: InMemorySpanExporter, trace_id: int) -> str:
    """The trace's spans (name <- parent's name), and where else the verdict's spans went."""
    everything = exporter.get_finished_spans()
    spans = by_trace(everything, trace_id)
    names = {s.context.span_id: s.name for s in spans if s.context is not None}
    tree = sorted(f"{s.name} <- {names.get(s.parent.span_id, '?') if s.parent else '-'}" for s in spans)
    elsewhere = sorted(
        {s.name for s in everything if s.name.startswith(("panel.verdict", "render")) and s not in spans}
    )
    return f"trace: {tree}; verdict and render spans in other traces: {elsewhere}"


def server_span(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    found = [s for s in exporter.get_finished_spans() if s.kind is trace.SpanKind.SERVER and s.name == name]
    assert found, f"no server span {name!r}"
    return found[-1]


def page_after(subject: str, spans: list[ReadableSpan], within_trace: int) -> ReadableSpan | None:
    """A span publishing ``render.page.published`` for a page queued while handling ``subject`` in
    the trace ``within_trace``: the render descends from that handling, or links to it (the page was
    already queued by an earlier event: its render joins that one's trace and links the others)."""
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    handled = {
        s.context.span_id
        for s in spans
        if s.context is not None and s.context.trace_id == within_trace and s.name == f"{subject} process"
    }
    renders = {
        s.context.span_id
        for s in spans
        if s.name == "render page"
        and s.context is not None
        and (
            any(a.context.span_id in handled for a in ancestors(s, by_id) if a.context is not None)
            or any(link.context.span_id in handled for link in s.links)
        )
    }
    for span in spans:
        if span.name.startswith(PagePublished.SUBJECT) and any(
            a.context is not None and a.context.span_id in renders for a in ancestors(span, by_id)
        ):
            return span
    return None


async def test_one_trace_runs_from_post_tools_through_the_model_call_to_the_page_published(api, exporter):
    answer = await api.post("/v1/tools", json=TOOL)
    assert answer.status_code == 201, answer.text
    root = server_span(exporter, "POST /v1/tools")
    assert root.context is not None
    trace_id = root.context.trace_id

    async def published() -> list[ReadableSpan] | None:
        spans = by_trace(exporter.get_finished_spans(), trace_id)
        return spans if page_after(PanelVerdictUpdated.SUBJECT, spans, trace_id) else None

    try:
        spans = await eventually(published, within=240, interval=0.5)  # one review on the real model
    except AssertionError:
        raise AssertionError(f"no page published after the verdict: {describe(exporter, trace_id)}") from None
    assert all(s.parent is not None for s in spans if s is not root), "one root: POST /v1/tools"

    database = [s for s in spans if (s.attributes or {}).get("db.system") == "postgresql"]
    assert database, "database spans (asyncpg) in the trace"
    models = [s for s in spans if (s.attributes or {}).get("gen_ai.operation.name") == "chat"]
    assert models, "a model call in the trace"
    model = models[0].attributes or {}
    assert model["gen_ai.request.model"]
    assert model["gen_ai.response.model"]
    assert model["gen_ai.provider.name"] == "openai"
    assert model["gen_ai.usage.input_tokens"] > 0
    assert model["gen_ai.usage.output_tokens"] > 0
    assert models[0].kind is trace.SpanKind.CLIENT
    # Every hop: the announcement, the review job, the inference request, the verdict, the page.
    names = {s.name for s in spans}
    for subject in ("ingest.tool.announced", "panel.review.requested", "inference.generate"):
        assert any(n.startswith(subject) for n in names), (subject, sorted(names))


async def test_a_vote_is_linked_to_its_batch_and_the_batch_runs_on_to_the_page(api, exporter):
    token = await voter(api)
    cast = await api.post("/v1/votes", json={"tool": SLUG, "choice": "ship", "voter_token": token})
    assert cast.status_code == 202, cast.text
    vote = server_span(exporter, "POST /v1/votes")
    assert vote.context is not None

    def batch_of_the_vote() -> ReadableSpan | None:
        for span in exporter.get_finished_spans():
            if span.name == f"{BallotCast.SUBJECT} process" and any(
                link.context.trace_id == vote.context.trace_id for link in span.links
            ):
                return span
        return None

    batch = await eventually(batch_of_the_vote, within=30)
    assert batch.parent is None  # a root of its own, linked to each ballot's trace
    assert batch.kind is trace.SpanKind.CONSUMER
    assert batch.context is not None

    async def page_of_the_batch() -> ReadableSpan | None:
        spans = list(exporter.get_finished_spans())
        return page_after(TallyUpdated.SUBJECT, spans, batch.context.trace_id)

    await eventually(page_of_the_batch, within=30, interval=0.2)


def samples(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(name + "{") or line.startswith(name + " ")]


async def test_metrics_show_the_traffic(api):
    text = (await api.get("/metrics")).text
    text = (await api.get("/metrics")).text  # the first scrape is counted by the second
    assert (await api.get("/metrics")).headers["content-type"].startswith("text/plain")
    for service in ("ingest", "review-panel", "inference", "votes", "render"):
        assert f'service="{service}"' in text, service
    expected = [
        ('verdicts_messages_handled_total{outcome="ok",service="render",subject="panel.verdict.updated"}'),
        'verdicts_handler_seconds_bucket{le="0.005",service="review-panel",subject="ingest.tool.announced"}',
        'verdicts_http_requests_total{method="POST",route="/v1/tools",service="ingest",status="201"}',
        'verdicts_http_requests_total{method="GET",route="/metrics",service="platform",status="200"}',
        'verdicts_http_request_seconds_count{route="/v1/votes",service="votes"}',
        'verdicts_inference_tokens_total{direction="out",route="local"}',
        'verdicts_inference_cost_usd_total{route="local"}',
        'verdicts_inference_latency_seconds_count{route="local"}',
        'verdicts_messages_handled_total{outcome="ok",service="votes",subject="votes.ballot.cast"}',
        'verdicts_outbox_waiting{service="render"}',
        'verdicts_consumer_lag{consumer="render-verdicts",stream="PANEL"}',
        'verdicts_consumer_lag{consumer="votes-ballots",stream="VOTES"}',
        'verdicts_pages_published_total{kind="tool"}',
    ]
    missing = [series for series in expected if series + " " not in text]
    assert missing == [], missing
    assert float(samples(text, "verdicts_votes_accepted_total")[0].split()[-1]) >= 1
    assert [s for s in samples(text, "verdicts_inference_requests_total") if 'route="local"' in s]
    for name in (
        "verdicts_redeliveries_total",
        "verdicts_dead_letters_total",
        "verdicts_votes_discarded_total",
    ):
        assert f"# TYPE {name} counter" in text, name  # declared, even before the first one


async def test_every_service_serves_its_own_metrics(api, settings):
    """Each service alone (``verdicts run NAME``) serves ``/metrics`` with its own gauges."""
    own = {
        "ingest": 'verdicts_outbox_waiting{service="ingest"}',
        "review-panel": 'verdicts_consumer_lag{consumer="review-panel-jobs",stream="PANEL"}',
        "inference": "verdicts_inference_queue_depth",
        "votes": 'verdicts_consumer_lag{consumer="votes-announced",stream="INGEST"}',
        "render": 'verdicts_outbox_waiting{service="render"}',
    }
    for spec in all_specs(settings):
        async with AsyncTestClient(build_app([spec], settings), timeout=30) as client:
            await client.get("/metrics")
            answer = await client.get("/metrics")
        assert answer.status_code == 200
        assert own[spec.name] in answer.text, spec.name
        scrape = f'method="GET",route="/metrics",service="{spec.name}",status="200"'
        assert f"verdicts_http_requests_total{{{scrape}}}" in answer.text, spec.name
