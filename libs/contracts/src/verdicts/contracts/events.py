"""Versioned events of the whole flow. Additive changes stay v1; breaking ones get a v2 type."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field

from verdicts.contracts import subjects
from verdicts.contracts.base import Contract, Event
from verdicts.contracts.tools import Tool


class Choice(StrEnum):
    SHIP = "ship"
    SKIP = "skip"


class ToolAnnounced(Event):
    SUBJECT: ClassVar[str] = subjects.INGEST_TOOL_ANNOUNCED
    TYPE: ClassVar[str] = "verdicts.ingest.tool_announced.v1"
    type: Literal["verdicts.ingest.tool_announced.v1"]
    tool: Tool
    version: int = Field(ge=1)
    content_hash: str


class ToolUpdated(Event):
    SUBJECT: ClassVar[str] = subjects.INGEST_TOOL_UPDATED
    TYPE: ClassVar[str] = "verdicts.ingest.tool_updated.v1"
    type: Literal["verdicts.ingest.tool_updated.v1"]
    tool: Tool
    version: int = Field(ge=2)
    previous_version: int = Field(ge=1)
    content_hash: str


class Provenance(Contract):
    route: str
    backend: str
    model: str
    prompt_template_version: str
    prompt_sha256: str
    schema_version: str
    temperature: float
    seed: int | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: Decimal = Decimal(0)
    latency_ms: float = 0
    withheld_passages: int = Field(
        default=0, ge=0, description="Instruction-like passages kept out of the prompt"
    )


class ReviewRequested(Event):
    """One durable review job: a persona's review of one tool version in one panel run."""

    SUBJECT: ClassVar[str] = subjects.PANEL_REVIEW_REQUESTED
    TYPE: ClassVar[str] = "verdicts.panel.review_requested.v1"
    type: Literal["verdicts.panel.review_requested.v1"]
    tool_slug: str
    tool_version: int
    panel_run: int = Field(ge=1)
    persona: str


class ReviewStatus(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"


class ReviewCompleted(Event):
    SUBJECT: ClassVar[str] = subjects.PANEL_REVIEW_COMPLETED
    TYPE: ClassVar[str] = "verdicts.panel.review_completed.v1"
    type: Literal["verdicts.panel.review_completed.v1"]
    tool_slug: str
    tool_version: int
    panel_run: int = 1
    persona: str
    persona_name: str | None = Field(
        default=None, description='The persona\'s display name ("Developer experience"), for pages'
    )
    persona_order: int | None = Field(
        default=None, ge=0, description="Where the persona sits on the panel (0 first), for pages"
    )
    status: ReviewStatus
    verdict: Choice | None = None
    review: str | None = None
    key_points: tuple[str, ...] = ()
    confidence: float | None = Field(default=None, ge=0, le=1)
    failure_reason: str | None = None
    provenance: Provenance | None = None
    route_note: str | None = Field(
        default=None,
        description="Why the review ran on another route than its persona's, or that it is self-judging",
    )
    withheld_fields: tuple[str, ...] = Field(
        default=(),
        description='Fields of the tool record ("description", "pricing.entry") whose '
        "instruction-like text was withheld from the reviewer",
    )


class PanelVerdictUpdated(Event):
    SUBJECT: ClassVar[str] = subjects.PANEL_VERDICT_UPDATED
    TYPE: ClassVar[str] = "verdicts.panel.verdict_updated.v1"
    type: Literal["verdicts.panel.verdict_updated.v1"]
    tool_slug: str
    tool_version: int
    ship: int = Field(ge=0)
    skip: int = Field(ge=0)
    ship_pct: float | None = Field(default=None, ge=0, le=100)
    partial: bool = False
    panel_run: int = 1
    failed: int = Field(default=0, ge=0)


class BallotCast(Event):
    SUBJECT: ClassVar[str] = subjects.VOTES_BALLOT_CAST
    TYPE: ClassVar[str] = "verdicts.votes.ballot_cast.v1"
    type: Literal["verdicts.votes.ballot_cast.v1"]
    tool_slug: str
    choice: Choice
    voter_id: str
    nonce: str


class Interval(Contract):
    low: float = Field(ge=0, le=100)
    high: float = Field(ge=0, le=100)


class TallyUpdated(Event):
    SUBJECT: ClassVar[str] = subjects.VOTES_TALLY_UPDATED
    TYPE: ClassVar[str] = "verdicts.votes.tally_updated.v1"
    type: Literal["verdicts.votes.tally_updated.v1"]
    tool_slug: str
    ship: int = Field(ge=0)
    skip: int = Field(ge=0)
    community_ship_pct: float | None = Field(default=None, ge=0, le=100)
    interval: Interval | None = None
    provisional: bool = True


class HeadToHeadCast(Event):
    """A "Which would you ship with?" ballot: ``a`` and ``b`` in slug order (a < b), the winner
    named on that order; the latest ballot of a voter on a pair replaces the earlier ones."""

    SUBJECT: ClassVar[str] = subjects.VOTES_HEAD_TO_HEAD_CAST
    TYPE: ClassVar[str] = "verdicts.votes.head_to_head_cast.v1"
    type: Literal["verdicts.votes.head_to_head_cast.v1"]
    a: str
    b: str
    winner: Literal["a", "b", "tie"]
    voter_id: str
    nonce: str


class RankedItem(Contract):
    slug: str
    score: float = Field(description="Bradley-Terry strength on the Elo scale (mean 1000)")
    low: float = Field(description="Bootstrap 95% interval, low end (same scale)")
    high: float = Field(description="Bootstrap 95% interval, high end (same scale)")
    rank: int = Field(ge=1, description="1 is best")
    comparisons: int = Field(ge=0, description="Head-to-head ballots the tool was in")


class RankingUpdated(Event):
    """A category's Bradley-Terry ranking changed (published only when it did)."""

    SUBJECT: ClassVar[str] = subjects.VOTES_RANKING_UPDATED
    TYPE: ClassVar[str] = "verdicts.votes.ranking_updated.v1"
    type: Literal["verdicts.votes.ranking_updated.v1"]
    category: str
    computed_at: datetime
    comparisons: int = Field(ge=0, description="Head-to-head ballots between tools of the category")
    provisional: bool = Field(description="Fewer comparisons than votes' minimum for a firm ranking")
    items: tuple[RankedItem, ...] = ()


class PagePublished(Event):
    SUBJECT: ClassVar[str] = subjects.RENDER_PAGE_PUBLISHED
    TYPE: ClassVar[str] = "verdicts.render.page_published.v1"
    type: Literal["verdicts.render.page_published.v1"]
    path: str
    kind: Literal["comparison", "tool", "category", "home", "issue", "feed", "badge", "json"]
    etag: str
    bytes: int = Field(ge=0)


class DeadLettered(Contract):
    """What lands on ``deadletter.<subject>``: the original bytes plus why."""

    TYPE: ClassVar[str] = "verdicts.platform.dead_lettered.v1"
    type: Literal["verdicts.platform.dead_lettered.v1"] = "verdicts.platform.dead_lettered.v1"
    subject: str
    consumer: str
    reason: str
    deliveries: int
    original_msg_id: str | None = None
    payload: str = Field(description="The original message body, decoded as UTF-8 with replacement")


ALL_EVENTS: tuple[type[Event], ...] = (
    ToolAnnounced,
    ToolUpdated,
    ReviewRequested,
    ReviewCompleted,
    PanelVerdictUpdated,
    BallotCast,
    TallyUpdated,
    HeadToHeadCast,
    RankingUpdated,
    PagePublished,
)

EVENTS_BY_SUBJECT: dict[str, type[Event]] = {e.SUBJECT: e for e in ALL_EVENTS}
