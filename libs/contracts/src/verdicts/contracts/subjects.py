"""Subject and stream names: the one place the bus vocabulary is spelled.

Events are ``<domain>.<entity>.<past-tense verb>``; request/reply is ``<domain>.<verb>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class StreamName:
    name: str
    subjects: tuple[str, ...]
    description: str


INGEST_TOOL_ANNOUNCED: Final = "ingest.tool.announced"
INGEST_TOOL_UPDATED: Final = "ingest.tool.updated"
PANEL_REVIEW_REQUESTED: Final = "panel.review.requested"
PANEL_REVIEW_COMPLETED: Final = "panel.review.completed"
PANEL_VERDICT_UPDATED: Final = "panel.verdict.updated"
VOTES_BALLOT_CAST: Final = "votes.ballot.cast"
VOTES_TALLY_UPDATED: Final = "votes.tally.updated"
VOTES_HEAD_TO_HEAD_CAST: Final = "votes.head_to_head.cast"
VOTES_RANKING_UPDATED: Final = "votes.ranking.updated"
RENDER_PAGE_PUBLISHED: Final = "render.page.published"

INFERENCE_GENERATE: Final = "inference.generate"
INFERENCE_QUEUE_GROUP: Final = "inference"

DEAD_LETTER_PREFIX: Final = "deadletter"


def dead_letter_subject(subject: str) -> str:
    """Where a message on ``subject`` goes once it has used up its deliveries."""
    return f"{DEAD_LETTER_PREFIX}.{subject}"


INGEST_STREAM: Final = StreamName("INGEST", ("ingest.>",), "Tools announced and updated by ingest")
PANEL_STREAM: Final = StreamName("PANEL", ("panel.>",), "Reviews and panel verdicts")
VOTES_STREAM: Final = StreamName("VOTES", ("votes.>",), "Community ballots and tallies")
RENDER_STREAM: Final = StreamName("RENDER", ("render.>",), "Pages published by render")
DEAD_LETTER_STREAM: Final = StreamName(
    "DEADLETTER", (f"{DEAD_LETTER_PREFIX}.>",), "Messages that used up their deliveries"
)

ALL_STREAMS: Final = (INGEST_STREAM, PANEL_STREAM, VOTES_STREAM, RENDER_STREAM, DEAD_LETTER_STREAM)
