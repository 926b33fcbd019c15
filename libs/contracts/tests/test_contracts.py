from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from verdicts.contracts import (
    ALL_EVENTS,
    EVENTS_BY_SUBJECT,
    BallotCast,
    Choice,
    InferenceError,
    InferenceErrorKind,
    InferenceRequest,
    Message,
    Pricing,
    PricingModel,
    Tool,
    ToolAnnounced,
)
from verdicts.contracts.subjects import ALL_STREAMS

pytestmark = pytest.mark.unit

EVENT_SUBJECT = re.compile(r"^[a-z]+\.[a-z_]+\.[a-z]+$")  # <domain>.<entity>.<past-tense verb>
EVENT_TYPE = re.compile(r"^verdicts\.[a-z_]+\.[a-z_]+\.v\d+$")


def sample_tool() -> Tool:
    return Tool(
        slug="smollm3",
        name="SmolLM3",
        vendor="Hugging Face",
        model_family="smollm",
        category="Developer Tools",
        tagline="3B open model",
        description="A small model.",
        pricing=Pricing(model=PricingModel.FREE, entry="Free", entry_price_usd=Decimal(0)),
        homepage="https://example.com/smollm3",
        released=date(2025, 7, 8),
    )


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.__name__)
def test_subjects_and_types_follow_the_naming_rules(event):
    assert EVENT_SUBJECT.match(event.SUBJECT)
    assert EVENT_TYPE.match(event.TYPE)
    assert event.model_fields["type"].annotation.__args__ == (event.TYPE,)
    streams = [s for s in ALL_STREAMS if event.SUBJECT.startswith(s.subjects[0].removesuffix(">"))]
    assert len(streams) == 1


def test_events_round_trip_through_json():
    event = ToolAnnounced.create(tool=sample_tool(), version=1, content_hash="abc")
    again = EVENTS_BY_SUBJECT[event.SUBJECT].model_validate_json(event.model_dump_json())
    assert again == event
    assert again.event_id
    assert again.occurred_at.tzinfo is not None


def test_a_wrong_type_is_rejected():
    payload = ToolAnnounced.create(tool=sample_tool(), version=1, content_hash="abc").model_dump()
    payload["type"] = "verdicts.ingest.tool_announced.v2"
    with pytest.raises(ValidationError):
        ToolAnnounced.model_validate(payload)


def test_additive_fields_are_ignored_so_v1_readers_keep_working():
    payload = BallotCast.create(tool_slug="x", choice=Choice.SHIP, voter_id="v", nonce="n").model_dump(
        mode="json"
    )
    payload["new_optional_field"] = 1
    assert BallotCast.model_validate(payload).tool_slug == "x"


def test_inference_request_bounds():
    with pytest.raises(ValidationError):
        InferenceRequest(route="local", messages=(), json_schema={}, caller="t")
    request = InferenceRequest(
        route="local", messages=(Message(role="user", content="hi"),), json_schema={}, caller="t"
    )
    assert request.max_tokens == 512
    error = InferenceError(kind=InferenceErrorKind.RATE_LIMITED, message="slow down", retryable=True)
    assert error.model_dump(mode="json")["kind"] == "rate_limited"
