"""Outbox rows that keep failing are parked with their reason, shown, and released on request; a full
stream is waited out, never parked. Real NATS (a small stream of the test's own) and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib

import nats
import pytest
from click.testing import CliRunner
from nats.js.api import DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from platform_probe import ProbeHappened

from verdicts.cli.main import main as cli
from verdicts.cli.status import collect
from verdicts.platform.db import create_pool, migrate
from verdicts.platform.outbox import OutboxRelay, parked, release_parked

pytestmark = pytest.mark.integration

SCHEMA = "outbox_parking"
STREAM = "PARKTEST"
SUBJECT = "parktest.probe"


def stream(max_msgs: int, max_msg_size: int) -> StreamConfig:
    return StreamConfig(
        name=STREAM,
        subjects=[f"{SUBJECT}"],
        storage=StorageType.FILE,
        discard=DiscardPolicy.NEW,
        max_msgs=max_msgs,
        max_msg_size=max_msg_size,
    )


@pytest.fixture(scope="module")
async def pool(database_url):
    pool = await create_pool(database_url)
    await migrate(pool, SCHEMA, None)
    yield pool
    await pool.close()


@pytest.fixture
async def js(nats_url):
    """A stream of the test's own, small enough to fill."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    with contextlib.suppress(NotFoundError):
        await js.delete_stream(STREAM)
    await js.add_stream(stream(max_msgs=1, max_msg_size=2048))
    yield js
    await js.delete_stream(STREAM)
    await nc.close()


def publisher(js):
    async def publish(subject: str, payload: bytes, headers: dict[str, str]) -> None:
        await js.publish(subject, payload, headers=headers, stream=STREAM)

    return publish


async def write(pool, *events: ProbeHappened) -> None:
    """Outbox rows as ``enqueue`` writes them, on the test stream's subject."""
    async with pool.acquire() as conn, conn.transaction():
        for event in events:
            await conn.execute(
                f"INSERT INTO {SCHEMA}.outbox (event_id, subject, payload) VALUES ($1, $2, $3)",
                event.event_id,
                SUBJECT,
                event.model_dump_json().encode(),
            )


async def rounds(relay: OutboxRelay, n: int) -> None:
    for _ in range(n):
        with contextlib.suppress(RuntimeError):
            await relay.relay_once()


async def test_a_bad_row_is_parked_a_full_stream_is_waited_out_and_retry_releases(
    pool, js, nats_url, database_url
):
    fits = ProbeHappened.create(label="fits")
    waits = ProbeHappened.create(label="waits for room")
    too_big = ProbeHappened.create(label="x" * 4000)
    await write(pool, fits)
    relay = OutboxRelay(pool, SCHEMA, publisher(js), max_attempts=3)
    assert await relay.relay_once() == 1  # the stream is now full

    await write(pool, waits, too_big)
    await rounds(relay, 6)
    rows = {r["event_id"]: r for r in await parked(pool, SCHEMA)}
    assert list(rows) == [too_big.event_id]  # parked after 3 failures; the full stream is waited out
    assert rows[too_big.event_id]["failures"] == 3
    assert "BadRequestError" in rows[too_big.event_id]["last_error"]
    waiting = await pool.fetchrow(
        f"SELECT failures, parked_at, last_error FROM {SCHEMA}.outbox WHERE event_id = $1", waits.event_id
    )
    assert waiting["failures"] == 0
    assert waiting["parked_at"] is None
    assert "ServiceUnavailableError" in waiting["last_error"]

    report = await collect({"DATABASE_URL": database_url, "VERDICTS_NATS_URL": nats_url})
    assert "schemas" in report

    # Room made, the limit raised: the waiting row goes out by itself, the parked one only when released.
    await js.purge_stream(STREAM)
    await js.update_stream(stream(max_msgs=10, max_msg_size=1024 * 1024))
    await rounds(relay, 2)
    assert [r["event_id"] for r in await parked(pool, SCHEMA)] == [too_big.event_id]
    async with pool.acquire() as conn:
        assert await release_parked(conn, SCHEMA) == 1
    assert await relay.relay_once() == 1
    assert await parked(pool, SCHEMA) == []
    unpublished = await pool.fetchval(f"SELECT count(*) FROM {SCHEMA}.outbox WHERE published_at IS NULL")
    assert unpublished == 0
    assert (await js.stream_info(STREAM)).state.messages == 2


async def test_outbox_retry_command_releases_parked_rows(pool, js, database_url, tmp_path, monkeypatch):
    event = ProbeHappened.create(label="y" * 4000)
    await write(pool, event)
    await rounds(OutboxRelay(pool, SCHEMA, publisher(js), max_attempts=1), 1)
    assert [r["event_id"] for r in await parked(pool, SCHEMA)] == [event.event_id]
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("VERDICTS_HOME", str(tmp_path))
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["outbox", "retry", "--schema", SCHEMA])
    assert result.exit_code == 0, result.output
    assert f"{SCHEMA}: released 1" in result.output
    assert await parked(pool, SCHEMA) == []
