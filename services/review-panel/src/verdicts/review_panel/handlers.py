"""review-panel's bus subscribers (thin): open a panel per tool version, run its review jobs.

Collaborators come by FastStream dependency: the panels (``stored_panels``), the reviewer
(``current_reviewer``) and a job's delivery count (``delivery_count``); unit tests override them.
"""

from __future__ import annotations

from typing import Annotated, Protocol

import asyncpg
from faststream import Context, Depends
from faststream.nats import NatsRouter
from faststream.nats.annotations import NatsBroker, NatsMessage
from nats.errors import Error as NatsError

from verdicts.contracts import ReviewRequested, Tool, ToolAnnounced, ToolUpdated
from verdicts.contracts.subjects import INGEST_STREAM, PANEL_STREAM
from verdicts.platform.broker import durable_subscriber
from verdicts.platform.deps import own_pool
from verdicts.platform.heartbeat import claimed_while_running
from verdicts.platform.settings import PlatformSettings
from verdicts.review_panel import store
from verdicts.review_panel.config import PanelSettings
from verdicts.review_panel.domain import ReviewOutcome
from verdicts.review_panel.panels import PanelBook
from verdicts.review_panel.personas import Roster
from verdicts.review_panel.reviewer import Reviewer

ROSTER = "review_panel_roster"
"""The FastStream context key the panel's roster is set under at start-up."""

REVIEWER = "review_panel_reviewer"
"""The FastStream context key the service's reviewer is set under at start-up."""

JOB_HEARTBEAT_S = 5.0
"""How often a running review job tells JetStream it is still being worked on."""

JOB_ACK_WAIT_S = 20.0
"""How long a review job stays claimed without a heartbeat (a few beats missed)."""


class Panels(Protocol):
    async def open(self, event_id: str, tool: Tool, version: int) -> bool:
        """Open the version's first panel run once; whether one was opened."""
        ...

    async def job_state(self, job: ReviewRequested) -> tuple[Tool | None, bool]:
        """The tool a job reviews (``None`` when unknown), and whether its review is stored."""
        ...

    async def record(self, job: ReviewRequested, outcome: ReviewOutcome) -> bool:
        """Store and publish the review (once), deciding the panel on its last review."""
        ...


class Reviews(Protocol):
    async def review(
        self, broker: NatsBroker, tool: Tool, persona_id: str, *, deliveries: int
    ) -> ReviewOutcome:
        """One persona's review of ``tool`` (raises ``NackMessage`` to wait for inference)."""
        ...


def stored_panels(
    pool: Annotated[asyncpg.Pool, own_pool(store.SCHEMA)], roster: Annotated[Roster, Context(ROSTER)]
) -> Panels:
    return PanelBook(pool, roster)


def current_reviewer(reviewer: Annotated[Reviewer, Context(REVIEWER)]) -> Reviews:
    return reviewer


def delivery_count(msg: NatsMessage) -> int:
    """How many times JetStream has delivered this job (1 for a message not from a stream)."""
    try:
        return msg.raw_message.metadata.num_delivered or 1
    except NatsError:  # not a JetStream message: no metadata
        return 1


PanelsDep = Annotated[Panels, Depends(stored_panels, cast=False)]
ReviewerDep = Annotated[Reviews, Depends(current_reviewer, cast=False)]
Deliveries = Annotated[int, Depends(delivery_count, cast=False)]


def register(router: NatsRouter, platform: PlatformSettings, panel: PanelSettings) -> None:
    @durable_subscriber(
        router,
        ToolAnnounced.SUBJECT,
        stream=INGEST_STREAM,
        durable="review-panel-announced",
        settings=platform,
    )
    async def on_announced(event: ToolAnnounced, panels: PanelsDep) -> None:
        await panels.open(event.event_id, event.tool, event.version)

    @durable_subscriber(
        router, ToolUpdated.SUBJECT, stream=INGEST_STREAM, durable="review-panel-updated", settings=platform
    )
    async def on_updated(event: ToolUpdated, panels: PanelsDep) -> None:
        await panels.open(event.event_id, event.tool, event.version)

    @durable_subscriber(
        router,
        ReviewRequested.SUBJECT,
        stream=PANEL_STREAM,
        durable="review-panel-jobs",
        settings=platform,
        max_deliver=panel.job_max_deliver,
        # Short: a running job is kept claimed by its heartbeat, so one held by a killed
        # process comes back within this wait instead of after the whole inference timeout.
        ack_wait_s=JOB_ACK_WAIT_S,
        max_workers=panel.concurrency,
    )
    async def on_review_requested(
        job: ReviewRequested,
        panels: PanelsDep,
        reviewer: ReviewerDep,
        deliveries: Deliveries,
        broker: NatsBroker,
        message: NatsMessage,
    ) -> None:
        tool, done = await panels.job_state(job)
        if tool is None:
            raise LookupError(f"no tool {job.tool_slug} v{job.tool_version} for a review job")
        if done:
            return
        async with claimed_while_running(message, every_s=JOB_HEARTBEAT_S):
            outcome = await reviewer.review(broker, tool, job.persona, deliveries=deliveries)
        await panels.record(job, outcome)
