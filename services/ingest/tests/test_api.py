"""ingest over HTTP against the real PostgreSQL and nats-server."""

from __future__ import annotations

import asyncio
import json

import nats
import pytest

from verdicts.contracts import ToolAnnounced, ToolUpdated
from verdicts.contracts.subjects import INGEST_STREAM
from verdicts.platform.testing import sample_tools
from verdicts.platform.testing.plugin import eventually

pytestmark = pytest.mark.integration

SAMPLE = sample_tools()


@pytest.fixture(scope="module")
async def js(nats_url):
    nc = await nats.connect(nats_url)
    yield nc.jetstream()
    await nc.close()


async def stream_events(js, subject: str = "ingest.tool.>") -> list:
    """Every message stored on INGEST for ``subject``, oldest first."""
    info = await js.stream_info(INGEST_STREAM.name)
    if info.state.messages == 0:
        return []
    sub = await js.subscribe(subject, stream=INGEST_STREAM.name, ordered_consumer=True)
    messages = []
    try:
        while True:
            try:
                messages.append(await sub.next_msg(timeout=0.5))
            except nats.errors.TimeoutError:
                return messages
    finally:
        await sub.unsubscribe()


async def quiet_outbox(db) -> None:
    await eventually(lambda: db.fetchval("SELECT count(*) = 0 FROM ingest.outbox WHERE published_at IS NULL"))


def tool(**patch) -> dict:
    return {**SAMPLE[0], **patch}


async def test_announce_over_http_puts_one_announced_event_on_the_stream(client, db, js):
    body = tool(name="Probe Tool One", vendor="Probe Inc")
    response = await client.post("/v1/tools", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "accepted"
    assert response.json()["slug"] == "probe-tool-one"
    await quiet_outbox(db)
    messages = [m for m in await stream_events(js, "ingest.tool.announced") if b"probe-tool-one" in m.data]
    assert len(messages) == 1
    event = ToolAnnounced.model_validate_json(messages[0].data)
    assert event.tool.slug == "probe-tool-one"
    assert event.version == 1
    assert event.tool.vendor == "Probe Inc"
    assert messages[0].headers["Nats-Msg-Id"] == event.event_id
    assert "traceparent" in messages[0].headers


async def test_the_sample_file_is_accepted_then_unchanged_then_updated(client, db, js):
    first = await client.post("/v1/tools/batch", json=SAMPLE)
    assert first.status_code == 200, first.text
    assert first.json()["summary"] == {"accepted": 12, "updated": 0, "unchanged": 0, "rejected": 0}
    await quiet_outbox(db)
    events_before = len(await stream_events(js))

    again = await client.post("/v1/tools/batch", json=SAMPLE)
    assert again.json()["summary"] == {"accepted": 0, "updated": 0, "unchanged": 12, "rejected": 0}
    await asyncio.sleep(0.5)
    assert len(await stream_events(js)) == events_before

    changed = [dict(t) for t in SAMPLE]
    changed[1]["description"] = "A new description."
    third = await client.post("/v1/tools/batch", json=changed)
    assert third.json()["summary"] == {"accepted": 0, "updated": 1, "unchanged": 11, "rejected": 0}
    await quiet_outbox(db)
    updated = [
        ToolUpdated.model_validate_json(m.data) for m in await stream_events(js, "ingest.tool.updated")
    ]
    assert [(e.tool.slug, e.version, e.previous_version) for e in updated] == [("smollm3", 2, 1)]
    versions = await db.fetch("SELECT version FROM ingest.tool_versions WHERE slug = 'smollm3' ORDER BY 1")
    assert [r["version"] for r in versions] == [1, 2]

    got = await client.get("/v1/tools/smollm3")
    assert got.json()["version"] == 2
    assert got.json()["description"] == "A new description."


async def test_reannouncing_in_another_spelling_is_unchanged(client):
    await client.post("/v1/tools", json=tool(name="Spelling Tool", vendor="Spell Co"))
    again = await client.post(
        "/v1/tools", json=tool(name="  spelling   TOOL ", vendor="spell co", category="developer tools")
    )
    assert again.status_code == 200
    assert again.json()["slug"] == "spelling-tool"
    # The name as shown changes with the spelling, so that is a new version, not a new tool.
    assert again.json()["status"] in ("updated", "unchanged")


async def test_two_identical_submissions_at_once_make_one_tool(client, db):
    body = tool(name="Racing Tool", vendor="Race Co")
    results = await asyncio.gather(*(client.post("/v1/tools", json=body) for _ in range(5)))
    statuses = sorted(r.json()["status"] for r in results)
    assert statuses == ["accepted", "unchanged", "unchanged", "unchanged", "unchanged"]
    assert await db.fetchval("SELECT count(*) FROM ingest.tools WHERE slug = 'racing-tool'") == 1
    assert await db.fetchval("SELECT count(*) FROM ingest.outbox WHERE payload LIKE '%racing-tool%'") == 1


async def test_listing_pages_and_filters(client):
    await client.post("/v1/tools/batch", json=SAMPLE)
    seen, cursor = [], None
    while True:
        params = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/tools", params=params)).json()
        seen += [t["slug"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen)) >= 12

    editors = (await client.get("/v1/tools", params={"category": "code editors"})).json()["items"]
    assert sorted(t["slug"] for t in editors) == ["cursor", "github-copilot"]
    google = (await client.get("/v1/tools", params={"vendor": "GOOGLE"})).json()["items"]
    assert sorted(t["slug"] for t in google) == ["gemini-2-5-pro", "gemma-3"]
    text = (await client.get("/v1/tools", params={"q": "million-token"})).json()["items"]
    assert [t["slug"] for t in text] == ["gemini-2-5-pro"]
    wildcard = (await client.get("/v1/tools", params={"q": "%"})).json()["items"]
    assert wildcard == []


async def test_unknown_tool_is_a_404_problem(client):
    response = await client.get("/v1/tools/no-such-tool")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == "slug"


async def test_a_batch_stores_the_good_items_and_rejects_the_bad(client, db):
    items = [
        tool(name="Batch Good A", vendor="B Co"),
        tool(name="Batch Bad", vendor="B Co", homepage="javascript:alert(1)"),
        tool(name="Batch Good B", vendor="B Co", category="Nonsense"),
        tool(name="Batch Good C", vendor="B Co"),
    ]
    body = (await client.post("/v1/tools/batch", json=items)).json()
    assert body["summary"] == {"accepted": 2, "updated": 0, "unchanged": 0, "rejected": 2}
    assert body["results"][1]["errors"][0]["field"] == "homepage"
    assert body["results"][2]["code"] == "unknown-category"
    slugs = {r["slug"] for r in await db.fetch("SELECT slug FROM ingest.tools WHERE slug LIKE 'batch-%'")}
    assert slugs == {"batch-good-a", "batch-good-c"}


async def test_a_batch_naming_a_slug_again_reads_as_the_items_one_after_another(client, db, js):
    """New and held slugs, a slug named twice by its vendor and once by another: each item gets
    what it would get had the items been posted one at a time, and each write one event."""
    await client.post("/v1/tools", json=tool(name="Repeat Held", vendor="Rep Co"))
    await quiet_outbox(db)
    items = [
        tool(name="Repeat Zed", vendor="Rep Co"),
        tool(name="Repeat Twice", vendor="Rep Co"),
        tool(name="Repeat Held", vendor="Rep Co", tagline="Held, then changed"),
        tool(name="Repeat Twice", vendor="Rep Co", tagline="Changed in the same batch"),
        tool(name="Repeat Twice", vendor="Other Co"),
        tool(name="Repeat Twice", vendor="Rep Co", tagline="Changed in the same batch"),
    ]
    body = (await client.post("/v1/tools/batch", json=items)).json()
    assert [(r["status"], r.get("version")) for r in body["results"]] == [
        ("accepted", 1),
        ("accepted", 1),
        ("updated", 2),
        ("updated", 2),
        ("rejected", None),
        ("unchanged", 2),
    ]
    assert body["results"][4]["code"] == "slug-taken"
    versions = await db.fetch(
        "SELECT slug, version FROM ingest.tool_versions WHERE slug LIKE 'repeat-%' ORDER BY slug, version"
    )
    assert [(r["slug"], r["version"]) for r in versions] == [
        ("repeat-held", 1),
        ("repeat-held", 2),
        ("repeat-twice", 1),
        ("repeat-twice", 2),
        ("repeat-zed", 1),
    ]
    await quiet_outbox(db)
    events = [
        (m.subject, json.loads(m.data)["tool"]["slug"], json.loads(m.data)["version"])
        for m in await stream_events(js)
        if b'"repeat-' in m.data
    ]
    assert sorted(events) == [
        ("ingest.tool.announced", "repeat-held", 1),
        ("ingest.tool.announced", "repeat-twice", 1),
        ("ingest.tool.announced", "repeat-zed", 1),
        ("ingest.tool.updated", "repeat-held", 2),
        ("ingest.tool.updated", "repeat-twice", 2),
    ]
    twice = [e for e in events if e[1] == "repeat-twice"]
    assert twice == sorted(twice, key=lambda e: e[2])  # announced before updated
    record = await client.get("/v1/tools/repeat-twice")
    assert record.json()["tagline"] == "Changed in the same batch"
