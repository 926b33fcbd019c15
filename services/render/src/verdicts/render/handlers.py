"""render's bus subscribers (thin): each event in, written to render's read model.

The read model (``read_model.ReadModel``) is set in FastStream's context at start-up under
``READ_MODEL`` and reaches the handlers by ``Depends``; unit tests override ``current_read_model``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Protocol

from faststream import Context, Depends
from faststream.nats import NatsBroker, NatsRouter

from verdicts.contracts import (
    PanelVerdictUpdated,
    RankingUpdated,
    ReviewCompleted,
    TallyUpdated,
    ToolAnnounced,
    ToolUpdated,
)
from verdicts.contracts.subjects import INGEST_STREAM, PANEL_STREAM, VOTES_STREAM
from verdicts.platform.broker import durable_subscriber
from verdicts.platform.settings import PlatformSettings

READ_MODEL = "render_read_model"
"""The FastStream context key render's read model is set under at start-up."""


class ReadModelWriter(Protocol):
    async def apply_tool(self, event: ToolAnnounced | ToolUpdated) -> None:
        """Keep the tool (newest version wins), apply what was held for it, queue its pages."""
        ...

    async def apply_fact(self, event: ReviewCompleted | PanelVerdictUpdated | TallyUpdated) -> None:
        """Apply a fact about a tool (held until the tool is known), queue the pages it touches."""
        ...

    async def apply_ranking(self, event: RankingUpdated) -> None:
        """Keep a category's ranking (the newest computed wins), queue the pages that show it."""
        ...


def current_read_model(read_model: Annotated[ReadModelWriter, Context(READ_MODEL)]) -> ReadModelWriter:
    """The service's read model (unit tests override this dependency with their own)."""
    return read_model


ReadModels = Annotated[ReadModelWriter, Depends(current_read_model, cast=False)]


def register(router: NatsRouter | NatsBroker, platform: PlatformSettings) -> None:
    def subscriber(subject: str, stream: Any, durable: str) -> Callable[..., Any]:
        return durable_subscriber(router, subject, stream=stream, durable=durable, settings=platform)

    @subscriber(ToolAnnounced.SUBJECT, INGEST_STREAM, "render-announced")
    async def render_announced_tool(event: ToolAnnounced, read_model: ReadModels) -> None:
        await read_model.apply_tool(event)

    @subscriber(ToolUpdated.SUBJECT, INGEST_STREAM, "render-updated")
    async def render_updated_tool(event: ToolUpdated, read_model: ReadModels) -> None:
        await read_model.apply_tool(event)

    @subscriber(ReviewCompleted.SUBJECT, PANEL_STREAM, "render-reviews")
    async def render_review(event: ReviewCompleted, read_model: ReadModels) -> None:
        await read_model.apply_fact(event)

    @subscriber(PanelVerdictUpdated.SUBJECT, PANEL_STREAM, "render-verdicts")
    async def render_verdict(event: PanelVerdictUpdated, read_model: ReadModels) -> None:
        await read_model.apply_fact(event)

    @subscriber(TallyUpdated.SUBJECT, VOTES_STREAM, "render-tallies")
    async def render_tally(event: TallyUpdated, read_model: ReadModels) -> None:
        await read_model.apply_fact(event)

    @subscriber(RankingUpdated.SUBJECT, VOTES_STREAM, "render-rankings")
    async def render_ranking(event: RankingUpdated, read_model: ReadModels) -> None:
        await read_model.apply_ranking(event)
