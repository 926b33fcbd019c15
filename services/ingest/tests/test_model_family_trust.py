"""`model_family` steers the panel's self-judging guard, so ingest keeps it only from trusted
submitters (VERDICTS_INGEST_TRUST_MODEL_FAMILY), whatever key announces the tool."""

from __future__ import annotations

import json

import pytest
from litestar.testing import AsyncTestClient

from verdicts.contracts import ToolAnnounced
from verdicts.ingest.app import create_app
from verdicts.ingest.domain import ToolSubmission, to_tool, untrusted_fields
from verdicts.platform.access.issuing import grant
from verdicts.platform.access.keys import Scope
from verdicts.platform.service import build_app
from verdicts.platform.testing import sample_tools

SAMPLE = sample_tools()[1]  # SmolLM3, model family "smollm"


def submission(**patch) -> dict:
    return SAMPLE | patch


@pytest.mark.unit
def test_model_family_is_dropped_unless_trusted():
    sent = ToolSubmission.model_validate(submission())
    assert to_tool(sent, category="Developer Tools").model_family is None
    assert to_tool(sent, category="Developer Tools", trust_model_family=True).model_family == "smollm"
    assert untrusted_fields(sent, trust_model_family=False) == ["model_family"]
    assert untrusted_fields(sent, trust_model_family=True) == []
    assert (
        untrusted_fields(
            ToolSubmission.model_validate(submission(model_family=None)), trust_model_family=False
        )
        == []
    )


async def announced_tool(db, slug: str) -> ToolAnnounced:
    """The event ingest wrote to its outbox (in the same transaction as the tool)."""
    rows = await db.fetch("SELECT payload FROM ingest.outbox")
    events = [json.loads(r["payload"]) for r in rows]
    return ToolAnnounced.model_validate(next(e for e in events if e["tool"]["slug"] == slug))


async def vendor_key(database_url: str) -> dict[str, str]:
    """A partner's key for the sample tool's vendor."""
    key = await grant(database_url, Scope.TOOLS_WRITE, vendors=(SAMPLE["vendor"],))
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.integration
async def test_an_ordinary_submission_cannot_set_model_family(settings, database_url, db, monkeypatch):
    monkeypatch.delenv("VERDICTS_INGEST_TRUST_MODEL_FAMILY", raising=False)
    async with AsyncTestClient(build_app([create_app()], settings)) as client:
        client.headers.update(await vendor_key(database_url))
        one = await client.post("/v1/tools", json=submission(name="Family Claim One"))
        assert one.status_code == 201, one.text
        assert one.json()["ignored"] == ["model_family"]
        assert "trusted" in one.json()["note"]
        assert one.json()["tool"]["model_family"] is None
        assert (await client.get("/v1/tools/family-claim-one")).json()["model_family"] is None
        assert (await announced_tool(db, "family-claim-one")).tool.model_family is None

        batch = await client.post("/v1/tools/batch", json=[submission(name="Family Claim Two")])
        assert batch.json()["results"][0]["ignored"] == ["model_family"]
        none_sent = await client.post("/v1/tools", json=submission(name="No Claim", model_family=None))
        assert "ignored" not in none_sent.json()


@pytest.mark.integration
async def test_a_trusted_deployment_keeps_model_family(settings, database_url, db, monkeypatch):
    monkeypatch.setenv("VERDICTS_INGEST_TRUST_MODEL_FAMILY", "true")
    async with AsyncTestClient(build_app([create_app()], settings)) as client:
        client.headers.update(await vendor_key(database_url))
        kept = await client.post("/v1/tools", json=submission(name="Family Kept", model_family="SmolLM"))
        assert kept.status_code == 201, kept.text
        assert "ignored" not in kept.json()
        assert kept.json()["tool"]["model_family"] == "smollm"
        assert (await announced_tool(db, "family-kept")).tool.model_family == "smollm"
