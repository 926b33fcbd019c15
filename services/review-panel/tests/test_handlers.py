"""review-panel's subscribers on FastStream's in-memory broker: no nats-server, no PostgreSQL,
no model. The panels are kept in memory by the domain's own rules, the reviewer is scripted (or
the real one, asking a scripted ``inference.generate``)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from faststream.nats import NatsBroker, TestNatsBroker
from pydantic import ValidationError

from verdicts.contracts import (
    Choice,
    Event,
    InferenceError,
    InferenceReply,
    InferenceRequest,
    PanelVerdictUpdated,
    ReviewCompleted,
    ReviewRequested,
    ReviewStatus,
    Tool,
    ToolAnnounced,
    ToolUpdated,
)
from verdicts.contracts.inference import Usage
from verdicts.contracts.subjects import INFERENCE_GENERATE
from verdicts.platform.settings import PlatformSettings
from verdicts.platform.testing import sample_tools
from verdicts.review_panel.config import PanelSettings
from verdicts.review_panel.domain import (
    Panel,
    PanelStatus,
    ReviewOutcome,
    StoredReview,
    panel_verdict,
    review_completed,
    review_requests,
    verdict_updated,
)
from verdicts.review_panel.handlers import current_reviewer, delivery_count, register, stored_panels
from verdicts.review_panel.personas import load_roster
from verdicts.review_panel.reviewer import Reviewer

pytestmark = pytest.mark.unit

ROSTER = load_roster()
TOOL = Tool.model_validate({**sample_tools()[1], "slug": "smollm3"})
SETTINGS = PanelSettings(job_max_deliver=3)


class MemoryPanels:
    """The panels in memory, by the same domain rules as the store-backed ``PanelBook``; the
    events it would write to the outbox are kept in ``outbox``."""

    def __init__(self) -> None:
        self.tools: dict[tuple[str, int], Tool] = {}
        self.panels: dict[tuple[str, int, int], Panel] = {}
        self.reviews: dict[tuple[str, int, int], dict[str, StoredReview]] = {}
        self.seen: set[str] = set()
        self.outbox: list[Event] = []
        self.recorded: list[tuple[ReviewRequested, ReviewOutcome]] = []

    async def open(self, event_id: str, tool: Tool, version: int) -> bool:
        if event_id in self.seen:
            return False
        self.seen.add(event_id)
        self.tools.setdefault((tool.slug, version), tool)
        if (tool.slug, version, 1) in self.panels:
            return False
        self.panels[tool.slug, version, 1] = Panel(tuple(ROSTER.ids), PanelStatus.RUNNING)
        self.outbox.extend(review_requests(tool.slug, version, 1, ROSTER.ids))
        return True

    async def job_state(self, job: ReviewRequested) -> tuple[Tool | None, bool]:
        stored = self.reviews.get((job.tool_slug, job.tool_version, job.panel_run), {})
        return self.tools.get((job.tool_slug, job.tool_version)), job.persona in stored

    async def record(self, job: ReviewRequested, outcome: ReviewOutcome) -> bool:
        key = (job.tool_slug, job.tool_version, job.panel_run)
        stored = self.reviews.setdefault(key, {})
        if job.persona in stored:
            return False
        self.recorded.append((job, outcome))
        stored[job.persona] = StoredReview(job.persona, outcome.verdict)
        self.outbox.append(review_completed(job, outcome, ROSTER))
        result = panel_verdict(self.panels.get(key), list(stored.values()))
        if result is not None:
            self.panels[key] = Panel(self.panels[key].personas, result.status)
            self.outbox.append(verdict_updated(job, result))
        return True

    def sent(self, kind: type[Event]) -> list[Any]:
        return [e for e in self.outbox if isinstance(e, kind)]


class ScriptedReviewer:
    """Answers every review with ``verdicts`` in persona order, and remembers what it was asked."""

    def __init__(self, verdicts: dict[str, Choice | None] | None = None) -> None:
        self.verdicts = verdicts or {}
        self.calls: list[tuple[str, str, int]] = []

    async def review(self, broker: Any, tool: Tool, persona_id: str, *, deliveries: int) -> ReviewOutcome:
        self.calls.append((tool.slug, persona_id, deliveries))
        verdict = self.verdicts.get(persona_id, Choice.SHIP)
        if verdict is None:
            return ReviewOutcome(ReviewStatus.FAILED, failure_reason="grounding failed twice: scripted")
        return ReviewOutcome(ReviewStatus.COMPLETED, verdict=verdict, review=f"{tool.name} {persona_id}")


def new_broker() -> NatsBroker:
    broker = NatsBroker()
    register(broker, PlatformSettings(log_json=False), SETTINGS)  # type: ignore[arg-type]
    return broker


@pytest.fixture
async def bus():
    broker = new_broker()
    panels, reviewer = MemoryPanels(), ScriptedReviewer({"thesis": None})
    # Scoped: FastStream's dependency provider is shared by every broker in the process.
    with (
        broker.provider.scope(stored_panels, lambda: panels),
        broker.provider.scope(current_reviewer, lambda: reviewer),
    ):
        async with TestNatsBroker(broker) as test_broker:
            yield test_broker, panels, reviewer


async def publish(broker: NatsBroker, event: Event) -> None:
    await broker.publish(event.model_dump(mode="json"), event.SUBJECT)


async def test_an_announced_tool_gets_a_panel_with_one_review_job_per_persona(bus):
    broker, panels, reviewer = bus
    await publish(broker, ToolAnnounced.create(tool=TOOL, version=1, content_hash="a"))
    jobs = panels.sent(ReviewRequested)
    assert [(j.tool_slug, j.tool_version, j.panel_run, j.persona) for j in jobs] == [
        ("smollm3", 1, 1, p) for p in ROSTER.ids
    ]
    assert reviewer.calls == []  # the jobs go through the outbox, not straight to the reviewer


async def test_an_updated_tool_gets_a_fresh_panel_for_its_new_version(bus):
    broker, panels, _ = bus
    await publish(broker, ToolAnnounced.create(tool=TOOL, version=1, content_hash="a"))
    await publish(broker, ToolUpdated.create(tool=TOOL, version=2, previous_version=1, content_hash="b"))
    assert sorted({(j.tool_version, j.panel_run) for j in panels.sent(ReviewRequested)}) == [(1, 1), (2, 1)]


async def test_a_redelivered_announcement_opens_no_second_panel(bus):
    broker, panels, _ = bus
    event = ToolAnnounced.create(tool=TOOL, version=1, content_hash="a")
    await publish(broker, event)
    await publish(broker, event)
    assert len(panels.sent(ReviewRequested)) == len(ROSTER.ids)


async def test_a_message_that_is_not_the_event_opens_nothing(bus):
    broker, panels, _ = bus
    with pytest.raises(ValidationError):
        await broker.publish({"type": ToolAnnounced.TYPE, "tool": {}}, ToolAnnounced.SUBJECT)
    assert panels.outbox == []


async def test_review_jobs_are_reviewed_stored_and_published_and_the_last_decides_the_panel(bus):
    broker, panels, reviewer = bus
    await publish(broker, ToolAnnounced.create(tool=TOOL, version=1, content_hash="a"))
    for job in panels.sent(ReviewRequested):
        await publish(broker, job)

    assert reviewer.calls == [("smollm3", p, 1) for p in ROSTER.ids]
    assert [(j.persona, o.status) for j, o in panels.recorded] == [
        (p, ReviewStatus.FAILED if p == "thesis" else ReviewStatus.COMPLETED) for p in ROSTER.ids
    ]
    completed = panels.sent(ReviewCompleted)
    assert [(e.persona, e.persona_name, e.persona_order) for e in completed] == [
        (p.id, p.display_name, i) for i, p in enumerate(ROSTER.personas)
    ]
    [verdict] = panels.sent(PanelVerdictUpdated)
    assert (verdict.ship, verdict.skip, verdict.failed, verdict.partial) == (3, 0, 1, True)


async def test_a_job_whose_review_is_stored_is_not_reviewed_again(bus):
    broker, panels, reviewer = bus
    await publish(broker, ToolAnnounced.create(tool=TOOL, version=1, content_hash="a"))
    job = panels.sent(ReviewRequested)[0]
    await publish(broker, job)
    await publish(broker, job)  # redelivered after the review was stored
    assert len(reviewer.calls) == 1
    assert len(panels.sent(ReviewCompleted)) == 1


async def test_a_job_for_a_tool_not_kept_fails_to_be_redelivered(bus):
    broker, _, reviewer = bus
    job = ReviewRequested.create(tool_slug="nope", tool_version=1, panel_run=1, persona="buyer")
    with pytest.raises(LookupError):
        await publish(broker, job)
    assert reviewer.calls == []


async def test_the_reviewer_is_told_how_often_the_job_was_delivered():
    broker = new_broker()
    panels, reviewer = MemoryPanels(), ScriptedReviewer()
    await panels.open("e", TOOL, 1)
    with (
        broker.provider.scope(stored_panels, lambda: panels),
        broker.provider.scope(current_reviewer, lambda: reviewer),
        broker.provider.scope(delivery_count, lambda: 7),
    ):
        async with TestNatsBroker(broker) as test_broker:
            await publish(test_broker, panels.sent(ReviewRequested)[0])
    assert reviewer.calls == [("smollm3", ROSTER.ids[0], 7)]


# The real reviewer, asking a scripted inference.generate on the same in-memory broker.

OWN_WORDS = (
    "SmolLM3 is a buy for teams that pay for inference out of a product budget and want that line "
    "to shrink. The moat is thin, since open weights invite copies, but the licence lets a startup "
    "ship it inside a device without a contract or a per call bill. The stress test is a long hard "
    "question: a three billion parameter model will miss, so a buyer must budget a fallback route "
    "to a larger model. For edge products that is a fair price for owning the stack."
)


def reply(request: InferenceRequest, review: str, points: list[str]) -> InferenceReply:
    body = {"review": review, "key_points": points, "verdict": "skip", "confidence": 0.65}
    return InferenceReply(
        answer=body,
        raw_text=json.dumps(body),
        route=request.route,
        backend="scripted",
        model="m",
        usage=Usage(tokens_in=10, tokens_out=20),
        cost_usd=Decimal("0.001"),
        latency_ms=5.0,
        finish_reason="stop",
    )


async def review_with_inference(answers: list[Any], deliveries: int = 1) -> tuple[MemoryPanels, list]:
    """One review job through the real reviewer; inference answers from ``answers`` in turn."""
    broker = new_broker()
    asked: list[InferenceRequest] = []

    @broker.subscriber(INFERENCE_GENERATE, queue="inference")
    async def generate(request: InferenceRequest) -> InferenceReply | InferenceError:
        asked.append(request)
        answer = answers[min(len(asked), len(answers)) - 1]
        return answer(request) if callable(answer) else answer

    panels = MemoryPanels()
    await panels.open("e", TOOL, 1)
    job = next(j for j in panels.sent(ReviewRequested) if j.persona == "buyer")
    with (
        broker.provider.scope(stored_panels, lambda: panels),
        broker.provider.scope(current_reviewer, lambda: Reviewer(SETTINGS, ROSTER)),
        broker.provider.scope(delivery_count, lambda: deliveries),
    ):
        async with TestNatsBroker(broker) as test_broker:
            await publish(test_broker, job)
    return panels, asked


async def test_the_real_reviewer_retries_a_copied_review_once_and_stores_the_second():
    copied = lambda r: reply(r, TOOL.description, ["a point of its own"])  # noqa: E731
    own = lambda r: reply(r, OWN_WORDS, ["Open weights cut the bill"])  # noqa: E731
    panels, asked = await review_with_inference([copied, own])

    assert len(asked) == 2
    assert [r.seed for r in asked] == [SETTINGS.seed, SETTINGS.seed + 1]
    assert all(r.deadline is not None and r.caller == "review-panel" for r in asked)
    assert "cannot be published" in asked[1].messages[-1].content
    [(_, outcome)] = panels.recorded
    assert (outcome.status, outcome.verdict, outcome.confidence) == (
        ReviewStatus.COMPLETED,
        Choice.SKIP,
        0.65,
    )
    assert outcome.provenance is not None
    assert (outcome.provenance.tokens_out, outcome.provenance.seed) == (40, SETTINGS.seed + 1)
    [event] = panels.sent(ReviewCompleted)
    assert (event.persona, event.persona_name, event.persona_order) == ("buyer", "Buyer", 3)


async def test_a_route_that_is_unavailable_leaves_the_job_for_a_later_delivery():
    busy = InferenceError(kind="rate_limited", message="slow down", retryable=True, retry_after_s=1)
    panels, asked = await review_with_inference([busy])
    assert len(asked) == 1
    assert panels.recorded == []  # nacked: JetStream delivers it again later


async def test_on_its_last_delivery_an_unavailable_route_fails_the_review():
    busy = InferenceError(kind="rate_limited", message="slow down", retryable=True, retry_after_s=1)
    panels, _ = await review_with_inference([busy], deliveries=SETTINGS.job_max_deliver)
    [(_, outcome)] = panels.recorded
    assert outcome.status is ReviewStatus.FAILED
    assert (outcome.failure_reason or "").startswith("inference rate_limited")
