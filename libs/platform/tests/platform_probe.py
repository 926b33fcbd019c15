"""A small service used by the platform tests: an HTTP route that writes through the
outbox, and a durable consumer that records what it handled, idempotently."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import asyncpg
from faststream import Context
from faststream.nats import NatsRouter
from litestar import Request, post
from litestar.params import Body
from opentelemetry import trace

from verdicts.contracts import Event
from verdicts.contracts.subjects import INGEST_STREAM
from verdicts.platform.broker import durable_subscriber
from verdicts.platform.idempotency import process_once
from verdicts.platform.outbox import enqueue
from verdicts.platform.service import ServiceSpec
from verdicts.platform.settings import PlatformSettings

PROBE_SUBJECT = "ingest.probe.happened"
SCHEMA = "probe"
FAILING_LABELS: set[str] = set()
"""Labels whose events fail while listed (a fault that is later fixed: dead letter, then replay)."""


class ProbeHappened(Event):
    SUBJECT: ClassVar[str] = PROBE_SUBJECT
    TYPE: ClassVar[str] = "verdicts.test.probe_happened.v1"
    type: Literal["verdicts.test.probe_happened.v1"]
    label: str
    fail: bool = False


def probe_service(settings: PlatformSettings) -> ServiceSpec:
    router = NatsRouter()

    @durable_subscriber(router, PROBE_SUBJECT, stream=INGEST_STREAM, durable="probe", settings=settings)
    async def on_probe(event: ProbeHappened, pool: asyncpg.Pool = Context("pool")) -> None:
        if event.fail or event.label in FAILING_LABELS:
            raise RuntimeError(f"probe {event.label} asked to fail")
        span = trace.get_current_span().get_span_context()
        async with process_once(pool, SCHEMA, "probe", event.event_id) as conn:
            if conn is None:
                return
            await conn.execute(
                "INSERT INTO probe.handled (event_id, label, trace_id) VALUES ($1, $2, $3)",
                event.event_id,
                event.label,
                f"{span.trace_id:032x}",
            )

    @post("/probe")
    async def create_probe(
        request: Request[Any, Any, Any], data: Annotated[dict[str, str], Body()]
    ) -> dict[str, str]:
        runtime = request.app.state.runtime
        event = ProbeHappened.create(label=data["label"])
        async with runtime.pool.acquire() as conn, conn.transaction():
            await enqueue(conn, SCHEMA, event)
        span = trace.get_current_span().get_span_context()
        return {"event_id": event.event_id, "trace_id": f"{span.trace_id:032x}"}

    return ServiceSpec(
        name="probe",
        schema=SCHEMA,
        router=router,
        route_handlers=[create_probe],
        migrations=PROBE_MIGRATIONS,
    )


from pathlib import Path  # noqa: E402

PROBE_MIGRATIONS = Path(__file__).parent / "probe_migrations"
