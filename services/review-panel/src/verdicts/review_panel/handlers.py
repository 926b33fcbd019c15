"""review-panel's bus subscribers (thin): open a panel per tool version, run review jobs."""

from __future__ import annotations

from faststream import Context
from faststream.nats import NatsMessage, NatsRouter

from verdicts.contracts import ReviewRequested, ToolAnnounced, ToolUpdated
from verdicts.contracts.subjects import INGEST_STREAM, PANEL_STREAM
from verdicts.platform.broker import durable_subscriber
from verdicts.platform.idempotency import process_once
from verdicts.platform.service import Runtime
from verdicts.platform.settings import PlatformSettings
from verdicts.review_panel import store
from verdicts.review_panel.config import PanelSettings
from verdicts.review_panel.reviewer import Reviewer

SCHEMA = store.SCHEMA


def register(
    router: NatsRouter, platform: PlatformSettings, panel: PanelSettings, reviewer: Reviewer
) -> None:
    personas = list(reviewer.personas)

    async def open_panel(event: ToolAnnounced | ToolUpdated, runtime: Runtime) -> None:
        async with process_once(runtime.pool, SCHEMA, "tool-events", event.event_id) as conn:
            if conn is not None:
                await store.open_panel(conn, event.tool, event.version, personas)

    @durable_subscriber(
        router,
        ToolAnnounced.SUBJECT,
        stream=INGEST_STREAM,
        durable="review-panel-announced",
        settings=platform,
    )
    async def on_announced(event: ToolAnnounced, runtime: Runtime = Context("runtime")) -> None:
        await open_panel(event, runtime)

    @durable_subscriber(
        router, ToolUpdated.SUBJECT, stream=INGEST_STREAM, durable="review-panel-updated", settings=platform
    )
    async def on_updated(event: ToolUpdated, runtime: Runtime = Context("runtime")) -> None:
        await open_panel(event, runtime)

    @durable_subscriber(
        router,
        ReviewRequested.SUBJECT,
        stream=PANEL_STREAM,
        durable="review-panel-jobs",
        settings=platform,
        max_deliver=panel.job_max_deliver,
        ack_wait_s=panel.inference_timeout_s * 2 + 30,
        max_workers=panel.concurrency,
    )
    async def on_review_requested(
        job: ReviewRequested, msg: NatsMessage, runtime: Runtime = Context("runtime")
    ) -> None:
        tool, done = await store.job_state(runtime.pool, job)
        if tool is None:
            raise LookupError(f"no tool {job.tool_slug} v{job.tool_version} for a review job")
        if done:
            return
        deliveries = msg.raw_message.metadata.num_delivered or 1
        outcome = await reviewer.review(runtime.broker, tool, job.persona, deliveries=deliveries)
        async with runtime.pool.acquire() as conn, conn.transaction():
            await store.store_review(conn, job, outcome)
