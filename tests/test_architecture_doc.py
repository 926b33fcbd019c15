"""docs/architecture.md's subject table must match the contracts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from verdicts.contracts import ALL_EVENTS, DeadLettered, InferenceReply, InferenceRequest
from verdicts.contracts.subjects import ALL_STREAMS, INFERENCE_GENERATE

pytestmark = pytest.mark.unit

DOC = Path(__file__).parents[1] / "docs" / "architecture.md"


def table_rows(heading: str) -> list[list[str]]:
    text = DOC.read_text()
    section = text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def test_every_event_is_documented_with_its_subject_and_type():
    documented = {
        row[0].strip("`"): re.findall(r"`([^`]+)`", row[1]) for row in table_rows("Subjects and event types")
    }
    for event in ALL_EVENTS:
        assert documented.get(event.SUBJECT) == [event.TYPE], event.__name__
    assert documented[INFERENCE_GENERATE][:2] == [InferenceRequest.TYPE, InferenceReply.TYPE]
    assert "deadletter.<subject>" in documented
    assert documented["deadletter.<subject>"] == [DeadLettered.TYPE]


def test_no_documented_subject_is_unknown_to_the_contracts():
    known = {e.SUBJECT for e in ALL_EVENTS} | {INFERENCE_GENERATE, "deadletter.<subject>"}
    documented = {row[0].strip("`") for row in table_rows("Subjects and event types")}
    assert documented == known


def test_streams_table_matches():
    documented = {row[0].strip("`"): row[1].strip("`") for row in table_rows("Streams")}
    assert documented == {s.name: s.subjects[0] for s in ALL_STREAMS}
