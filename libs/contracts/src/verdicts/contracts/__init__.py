"""Verdicts contracts: event and request models, subjects, stream names. No I/O."""

from verdicts.contracts.base import Contract, Event
from verdicts.contracts.events import (
    ALL_EVENTS,
    EVENTS_BY_SUBJECT,
    BallotCast,
    Choice,
    DeadLettered,
    Interval,
    PagePublished,
    PanelVerdictUpdated,
    Provenance,
    ReviewCompleted,
    ReviewRequested,
    ReviewStatus,
    TallyUpdated,
    ToolAnnounced,
    ToolUpdated,
)
from verdicts.contracts.inference import (
    InferenceError,
    InferenceErrorKind,
    InferenceReply,
    InferenceRequest,
    Message,
    Role,
)
from verdicts.contracts.tools import Pricing, PricingModel, Tool

__all__ = [
    "ALL_EVENTS",
    "EVENTS_BY_SUBJECT",
    "BallotCast",
    "Choice",
    "Contract",
    "DeadLettered",
    "Event",
    "InferenceError",
    "InferenceErrorKind",
    "InferenceReply",
    "InferenceRequest",
    "Interval",
    "Message",
    "PagePublished",
    "PanelVerdictUpdated",
    "Pricing",
    "PricingModel",
    "Provenance",
    "ReviewCompleted",
    "ReviewRequested",
    "ReviewStatus",
    "Role",
    "TallyUpdated",
    "Tool",
    "ToolAnnounced",
    "ToolUpdated",
]
