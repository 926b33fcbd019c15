"""render's subscribers on FastStream's in-memory broker: no nats-server, no PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from faststream.nats import NatsBroker, TestNatsBroker
from pydantic import ValidationError

from verdicts.contracts import (
    Interval,
    PanelVerdictUpdated,
    Pricing,
    RankedItem,
    RankingUpdated,
    ReviewCompleted,
    TallyUpdated,
    Tool,
    ToolAnnounced,
    ToolUpdated,
)
from verdicts.platform.settings import PlatformSettings
from verdicts.render.handlers import current_read_model, register

pytestmark = pytest.mark.unit


class RecordedReadModel:
    """What the handlers asked the read model to apply, in order (stands in for PostgreSQL)."""

    def __init__(self) -> None:
        self.applied: list[object] = []

    async def apply_tool(self, event: ToolAnnounced | ToolUpdated) -> None:
        self.applied.append(event)

    async def apply_fact(self, event: ReviewCompleted | PanelVerdictUpdated | TallyUpdated) -> None:
        self.applied.append(event)

    async def apply_ranking(self, event: RankingUpdated) -> None:
        self.applied.append(event)


@pytest.fixture
async def bus():
    broker = NatsBroker()
    register(broker, PlatformSettings(log_json=False))  # type: ignore[arg-type]
    recorded = RecordedReadModel()
    # Scoped: FastStream's dependency provider is shared by every broker in the process.
    with broker.provider.scope(current_read_model, lambda: recorded):
        async with TestNatsBroker(broker) as test_broker:
            yield test_broker, recorded


TOOL = Tool(
    slug="alpha",
    name="Alpha",
    vendor="V",
    category="Developer Tools",
    tagline="t",
    description="d",
    pricing=Pricing(model="free", entry="Free", entry_price_usd=Decimal(0)),
    homepage="https://example.com",
)


async def publish(broker: TestNatsBroker, event) -> None:
    await broker.publish(event.model_dump(mode="json"), event.SUBJECT)


async def test_announced_and_updated_tools_reach_the_read_model_as_typed_events(bus):
    broker, recorded = bus
    announced = ToolAnnounced.create(tool=TOOL, version=1, content_hash="a")
    updated = ToolUpdated.create(tool=TOOL, version=2, previous_version=1, content_hash="b")
    await publish(broker, announced)
    await publish(broker, updated)
    assert recorded.applied == [announced, updated]


async def test_reviews_verdicts_and_tallies_reach_the_read_model_with_the_persona_s_seat(bus):
    broker, recorded = bus
    review = ReviewCompleted.create(
        tool_slug="alpha",
        tool_version=1,
        persona="buyer",
        persona_name="Buyer",
        persona_order=3,
        status="completed",
        verdict="ship",
        review="fine",
    )
    verdict = PanelVerdictUpdated.create(tool_slug="alpha", tool_version=1, ship=1, skip=0, ship_pct=100)
    tally = TallyUpdated.create(
        tool_slug="alpha",
        ship=3,
        skip=1,
        community_ship_pct=75,
        interval=Interval(low=30, high=95),
        provisional=True,
    )
    for event in (review, verdict, tally):
        await publish(broker, event)
    assert recorded.applied == [review, verdict, tally]
    applied_review = recorded.applied[0]
    assert isinstance(applied_review, ReviewCompleted)
    assert (applied_review.persona_name, applied_review.persona_order) == ("Buyer", 3)


async def test_a_review_from_before_persona_names_is_still_applied(bus):
    broker, recorded = bus
    old = ReviewCompleted.create(tool_slug="alpha", tool_version=1, persona="thesis", status="failed")
    body = old.model_dump(mode="json", exclude={"persona_name", "persona_order"})
    await broker.publish(body, ReviewCompleted.SUBJECT)
    assert recorded.applied == [old]


async def test_a_ranking_reaches_the_read_model(bus):
    broker, recorded = bus
    item = RankedItem(slug="alpha", score=1010.5, low=990.0, high=1030.0, rank=1, comparisons=3)
    ranking = RankingUpdated.create(
        category="Developer Tools", computed_at=TOOL_TIME, comparisons=3, provisional=True, items=[item]
    )
    await publish(broker, ranking)
    assert recorded.applied == [ranking]


TOOL_TIME = "2026-01-05T10:00:00+00:00"


async def test_a_message_that_is_not_the_event_is_not_applied(bus):
    broker, recorded = bus
    with pytest.raises(ValidationError):
        await broker.publish({"type": TallyUpdated.TYPE, "tool_slug": "alpha"}, TallyUpdated.SUBJECT)
    assert recorded.applied == []
