"""Outbox: rolled-back rows never go out, committed ones always do, even across a relay crash."""

from __future__ import annotations

import asyncio

import nats
import pytest
from platform_probe import ProbeHappened

from verdicts.contracts.subjects import INGEST_STREAM
from verdicts.platform.db import create_pool, migrate
from verdicts.platform.outbox import OutboxRelay, enqueue

pytestmark = pytest.mark.integration

SCHEMA = "outbox_test"


@pytest.fixture(scope="module")
async def pool(database_url):
    pool = await create_pool(database_url)
    await migrate(pool, SCHEMA, None)
    yield pool
    await pool.close()


@pytest.fixture(scope="module")
async def js(nats_url):
    nc = await nats.connect(nats_url)
    yield nc.jetstream()
    await nc.close()


def jetstream_publisher(js):
    async def publish(subject: str, payload: bytes, headers: dict[str, str]) -> None:
        await js.publish(subject, payload, headers=headers, stream=INGEST_STREAM.name)

    return publish


async def stored_event_ids(js, label_prefix: str) -> list[str]:
    sub = await js.subscribe("ingest.probe.happened", stream=INGEST_STREAM.name, ordered_consumer=True)
    ids = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except nats.errors.TimeoutError:
                break
            event = ProbeHappened.model_validate_json(msg.data)
            if event.label.startswith(label_prefix):
                ids.append(event.event_id)
    finally:
        await sub.unsubscribe()
    return ids


async def unpublished(pool) -> int:
    return await pool.fetchval(f"SELECT count(*) FROM {SCHEMA}.outbox WHERE published_at IS NULL")


async def test_rolled_back_row_is_never_published_committed_row_always_is(pool, js):
    rolled_back = ProbeHappened.create(label="tx-rolled-back")
    committed = ProbeHappened.create(label="tx-committed")

    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await enqueue(conn, SCHEMA, rolled_back)
        await tx.rollback()
    async with pool.acquire() as conn, conn.transaction():
        await enqueue(conn, SCHEMA, committed)

    relay = OutboxRelay(pool, SCHEMA, jetstream_publisher(js))
    assert await relay.relay_once() == 1
    assert await relay.relay_once() == 0
    assert await stored_event_ids(js, "tx-") == [committed.event_id]


async def test_relay_retries_until_nats_acknowledges(pool, js):
    event = ProbeHappened.create(label="retry-1")
    async with pool.acquire() as conn, conn.transaction():
        await enqueue(conn, SCHEMA, event)
    attempts = 0
    real = jetstream_publisher(js)

    async def flaky(subject: str, payload: bytes, headers: dict[str, str]) -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise OSError("nats unavailable")
        await real(subject, payload, headers)

    relay = OutboxRelay(pool, SCHEMA, flaky, poll_s=0.05, max_backoff_s=0.1)
    task = asyncio.create_task(relay.run())
    try:
        for _ in range(200):
            if await unpublished(pool) == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
    assert attempts == 3
    assert await stored_event_ids(js, "retry-") == [event.event_id]
    row = await pool.fetchrow(
        f"SELECT attempts, last_error FROM {SCHEMA}.outbox WHERE event_id = $1", event.event_id
    )
    assert row["attempts"] == 3
    assert "nats unavailable" in row["last_error"]


async def test_relay_killed_half_way_publishes_every_event_exactly_once(pool, js):
    events = [ProbeHappened.create(label=f"crash-{i}") for i in range(20)]
    async with pool.acquire() as conn, conn.transaction():
        for event in events:
            await enqueue(conn, SCHEMA, event)

    real = jetstream_publisher(js)
    published = 0
    crashed = asyncio.Event()

    async def dies_after_eight(subject: str, payload: bytes, headers: dict[str, str]) -> None:
        nonlocal published
        await real(subject, payload, headers)
        published += 1
        if published == 8:
            crashed.set()
            await asyncio.sleep(3600)  # killed here: published, never marked

    dying = asyncio.create_task(OutboxRelay(pool, SCHEMA, dies_after_eight).run())
    await asyncio.wait_for(crashed.wait(), 10)
    dying.cancel()
    with pytest.raises(asyncio.CancelledError):
        await dying
    assert await unpublished(pool) == 20  # the crash lost the marks, not the rows

    relay = OutboxRelay(pool, SCHEMA, real)
    assert await relay.relay_once() == 20
    assert await unpublished(pool) == 0
    stored = await stored_event_ids(js, "crash-")
    assert sorted(stored) == sorted(e.event_id for e in events)


async def test_enqueue_twice_keeps_one_row(pool):
    event = ProbeHappened.create(label="enqueue-twice")
    for _ in range(2):
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(conn, SCHEMA, event)
    count = await pool.fetchval(f"SELECT count(*) FROM {SCHEMA}.outbox WHERE event_id = $1", event.event_id)
    assert count == 1


async def test_relay_wakes_on_commit_without_waiting_for_the_poll(pool, js):
    relay = OutboxRelay(pool, SCHEMA, jetstream_publisher(js), poll_s=60)
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.3)
        event = ProbeHappened.create(label="notify-1")
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(conn, SCHEMA, event)
        for _ in range(100):
            if await unpublished(pool) == 0:
                break
            await asyncio.sleep(0.05)
        assert await unpublished(pool) == 0
    finally:
        task.cancel()
