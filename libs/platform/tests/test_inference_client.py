"""Every inference request the client sends carries an absolute deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from verdicts.contracts import InferenceRequest, Message
from verdicts.platform.inference_client import with_deadline

pytestmark = pytest.mark.unit


def request(**patch: object) -> InferenceRequest:
    fields: dict[str, object] = {
        "route": "local",
        "messages": (Message(role="user", content="hi"),),
        "json_schema": {"type": "object"},
        "caller": "test",
    }
    return InferenceRequest(**(fields | patch))  # type: ignore[arg-type]


def test_a_request_without_a_deadline_gets_one_timeout_from_now():
    sent = with_deadline(request(), timeout_s=30)
    assert sent.deadline is not None
    left = (sent.deadline - datetime.now(UTC)).total_seconds()
    assert 29 < left <= 30


def test_a_callers_own_deadline_is_kept():
    own = datetime.now(UTC) + timedelta(seconds=5)
    assert with_deadline(request(deadline=own), timeout_s=30).deadline == own
