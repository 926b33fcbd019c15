"""The platform against real servers: outbox, idempotency, dead letters, tracing."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import nats
import pytest
from litestar.testing import AsyncTestClient
from platform_probe import PROBE_SUBJECT, ProbeHappened, probe_service

from verdicts.contracts import DeadLettered
from verdicts.contracts.subjects import DEAD_LETTER_STREAM, INGEST_STREAM, dead_letter_subject
from verdicts.platform.service import build_app
from verdicts.platform.testing.plugin import eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def client(settings):
    app = build_app([probe_service(settings)], settings)
    async with AsyncTestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
async def js(nats_url):
    nc = await nats.connect(nats_url)
    yield nc.jetstream()
    await nc.close()


async def handled(database_url: str, label: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch("SELECT * FROM probe.handled WHERE label = $1", label)
    finally:
        await conn.close()


async def next_dead_letter(sub, *, containing: str) -> DeadLettered:
    while True:
        msg = await sub.next_msg(timeout=20)
        record = DeadLettered.model_validate_json(msg.data)
        if containing in record.payload:
            return record


async def test_ready(client):
    response = await client.get("/health/ready")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"broker": "ok", "database": "ok"}


async def test_trace_id_spans_http_publish_and_consume(client, database_url):
    response = await client.post("/probe", json={"label": "traced"})
    assert response.status_code == 201
    body = response.json()
    assert body["trace_id"] != "0" * 32
    rows = await eventually(lambda: handled(database_url, "traced"))
    assert rows[0]["trace_id"] == body["trace_id"]


async def test_same_event_twice_is_handled_once(client, js, database_url):
    event = ProbeHappened.create(label="twice")
    payload = event.model_dump_json().encode()
    # Different message ids, so JetStream stores both and the consumer sees both.
    await js.publish(PROBE_SUBJECT, payload, headers={"Nats-Msg-Id": "first"})
    await js.publish(PROBE_SUBJECT, payload, headers={"Nats-Msg-Id": "second"})
    marker = ProbeHappened.create(label="after-twice")
    await js.publish(PROBE_SUBJECT, marker.model_dump_json().encode())
    await eventually(lambda: handled(database_url, "after-twice"))
    assert len(await handled(database_url, "twice")) == 1


async def test_malformed_message_is_dead_lettered_and_consumer_keeps_going(client, js, database_url):
    dead = await js.subscribe(dead_letter_subject(PROBE_SUBJECT), stream=DEAD_LETTER_STREAM.name)
    await js.publish(PROBE_SUBJECT, b'{"not": "a probe event"', headers={"Nats-Msg-Id": "bad-1"})
    good = ProbeHappened.create(label="good-after-bad")
    await js.publish(PROBE_SUBJECT, good.model_dump_json().encode())
    await eventually(lambda: handled(database_url, "good-after-bad"))

    record = await next_dead_letter(dead, containing="a probe event")
    assert record.subject == PROBE_SUBJECT
    assert record.deliveries == 3
    assert record.original_msg_id == "bad-1"
    assert record.payload == '{"not": "a probe event"'
    assert record.reason
    await dead.unsubscribe()

    later = ProbeHappened.create(label="good-after-dlq")
    await js.publish(PROBE_SUBJECT, later.model_dump_json().encode())
    await eventually(lambda: handled(database_url, "good-after-dlq"))


async def test_handler_failure_is_retried_then_dead_lettered(client, js):
    dead = await js.subscribe(dead_letter_subject(PROBE_SUBJECT), stream=DEAD_LETTER_STREAM.name)
    failing = ProbeHappened.create(label="boom", fail=True)
    await js.publish(PROBE_SUBJECT, failing.model_dump_json().encode())
    record = await next_dead_letter(dead, containing=failing.event_id)
    assert "probe boom asked to fail" in record.reason
    assert json.loads(record.payload)["event_id"] == failing.event_id
    await dead.unsubscribe()


async def test_duplicate_msg_id_is_stored_once_with_headers(js):
    event = ProbeHappened.create(label="dup")
    headers = {"Nats-Msg-Id": event.event_id, "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}
    first = await js.publish("ingest.probe.duplicate", event.model_dump_json().encode(), headers=headers)
    second = await js.publish("ingest.probe.duplicate", event.model_dump_json().encode(), headers=headers)
    assert not first.duplicate
    assert second.duplicate
    assert second.seq == first.seq
    sub = await js.subscribe("ingest.probe.duplicate", stream=INGEST_STREAM.name, ordered_consumer=True)
    msg = await sub.next_msg(timeout=5)
    assert msg.headers is not None
    assert msg.headers["Nats-Msg-Id"] == event.event_id
    assert msg.headers["traceparent"] == headers["traceparent"]
    assert ProbeHappened.model_validate_json(msg.data) == event
    with pytest.raises(nats.errors.TimeoutError):
        await sub.next_msg(timeout=0.5)
    await sub.unsubscribe()
    await asyncio.sleep(0)
