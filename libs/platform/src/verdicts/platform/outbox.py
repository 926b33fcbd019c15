"""Transactional outbox: events written with the change, relayed until NATS acknowledges.

The relay publishes with ``Nats-Msg-Id`` = event id, so a row sent twice (the relay
died after publishing, before marking it) is stored once by JetStream. A full or
unreachable bus is waited out; a row that fails for any other reason
``max_attempts`` times is parked with its reason (``parked_at``, ``last_error``)
until ``release_parked`` (``verdicts outbox retry``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import asyncpg
import nats.errors
from nats.js.errors import ServiceUnavailableError
from opentelemetry import propagate, trace

from verdicts.contracts import Event
from verdicts.platform.backoff import Backoff
from verdicts.platform.db import Conn, check_schema_name
from verdicts.platform.telemetry import current_trace_headers

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"
EVENT_TYPE_HEADER = "Verdicts-Event-Type"

Publish = Callable[[str, bytes, dict[str, str]], Awaitable[object]]
"""publish(subject, payload, headers): returns once the stream acknowledged."""


def channel(schema: str) -> str:
    return f"verdicts_outbox_{check_schema_name(schema)}"


def event_headers(event: Event) -> dict[str, str]:
    return {MSG_ID_HEADER: event.event_id, EVENT_TYPE_HEADER: event.type}


def _enqueue_sql(schema: str) -> str:
    # One statement: the row, and a NOTIFY that is delivered on commit only (so a rolled-back
    # event never wakes the relay).
    return (
        f'WITH row AS (INSERT INTO "{check_schema_name(schema)}".outbox '
        "(event_id, subject, payload, headers) VALUES ($1, $2, $3, $4::jsonb) "
        "ON CONFLICT (event_id) DO NOTHING RETURNING 1) "
        "SELECT pg_notify($5, '') FROM row"
    )


def _row(schema: str, event: Event, trace_headers: Mapping[str, str]) -> tuple[Any, ...]:
    headers = {**trace_headers, **event_headers(event)}
    payload = event.model_dump_json().encode()
    return (event.event_id, event.SUBJECT, payload, json.dumps(headers), channel(schema))


async def enqueue(conn: Conn, schema: str, event: Event) -> None:
    """Write ``event`` to the outbox inside the caller's transaction."""
    await conn.execute(_enqueue_sql(schema), *_row(schema, event, current_trace_headers()))


async def enqueue_many(conn: Conn, schema: str, events: Iterable[tuple[Event, Mapping[str, str]]]) -> None:
    """Write ``events`` to the outbox inside the caller's transaction in one pipelined round trip,
    each with the trace headers it was produced under (``current_trace_headers()`` then)."""
    rows = [_row(schema, event, trace_headers) for event, trace_headers in events]
    if rows:
        await conn.executemany(_enqueue_sql(schema), rows)


WAITED_OUT: tuple[type[BaseException], ...] = (
    ServiceUnavailableError,  # the stream is full (DiscardPolicy.NEW) or JetStream is away
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.NoServersError,
    TimeoutError,  # nats.errors.TimeoutError too
    OSError,
)
"""Failures that say the bus is full or away, not that the row is bad: they never park a row."""


def counts_towards_parking(exc: BaseException) -> bool:
    return not isinstance(exc, WAITED_OUT)


def describe_failure(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{exc.__class__.__name__}: {text}"[:2000] if text else exc.__class__.__name__


async def parked(conn: Conn, schema: str) -> list[asyncpg.Record]:
    """The parked rows of ``schema``, oldest first."""
    return await conn.fetch(
        "SELECT seq, event_id, subject, failures, last_error, parked_at "
        f'FROM "{check_schema_name(schema)}".outbox WHERE parked_at IS NOT NULL ORDER BY seq'
    )


async def release_parked(conn: Conn, schema: str) -> int:
    """Put ``schema``'s parked rows back in the relay's queue (failures reset) and wake the relay."""
    released = await conn.fetchval(
        f'WITH released AS (UPDATE "{check_schema_name(schema)}".outbox SET parked_at = NULL, failures = 0 '
        "WHERE parked_at IS NOT NULL RETURNING 1) SELECT count(*) FROM released"
    )
    if released:
        await conn.execute("SELECT pg_notify($1, '')", channel(schema))
    return int(released)


class OutboxRelay:
    """Publishes unpublished rows in order, retrying with backoff until acknowledged."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: str,
        publish: Publish,
        *,
        poll_s: float = 1.0,
        batch_size: int = 200,
        max_backoff_s: float = 30.0,
        max_attempts: int = 20,
    ) -> None:
        self.pool = pool
        self.schema = check_schema_name(schema)
        self.publish = publish
        self.poll_s = poll_s
        self.batch_size = batch_size
        self.max_backoff_s = max_backoff_s
        self.max_attempts = max_attempts
        self.backoff = Backoff(first_s=min(0.5, max_backoff_s), cap_s=max_backoff_s)
        self._wake = asyncio.Event()

    async def relay_once(self) -> int:
        """Publish one batch; returns how many rows were acknowledged."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f'SELECT seq, event_id, subject, payload, headers FROM "{self.schema}".outbox '
                "WHERE published_at IS NULL AND parked_at IS NULL "
                "ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
                self.batch_size,
            )
            if not rows:
                return 0
            results = await asyncio.gather(*(self._publish_row(row) for row in rows), return_exceptions=True)
            done = [row["seq"] for row, res in zip(rows, results, strict=True) if res is None]
            failed = [
                (row["seq"], describe_failure(res), int(counts_towards_parking(res)), self.max_attempts)
                for row, res in zip(rows, results, strict=True)
                if isinstance(res, BaseException)
            ]
            if done:
                await conn.execute(
                    f'UPDATE "{self.schema}".outbox SET published_at = now(), '
                    "attempts = attempts + 1 WHERE seq = ANY($1::bigint[])",
                    done,
                )
            if failed:
                await conn.executemany(
                    f'UPDATE "{self.schema}".outbox SET attempts = attempts + 1, last_error = $2, '
                    "failures = failures + $3, "
                    "parked_at = CASE WHEN failures + $3 >= $4 THEN now() END WHERE seq = $1",
                    failed,
                )
                log.warning(
                    "outbox publish failed",
                    extra={"schema": self.schema, "failed": len(failed), "error": failed[0][1]},
                )
                newly_parked = await conn.fetchval(
                    f'SELECT count(*) FROM "{self.schema}".outbox '
                    "WHERE seq = ANY($1::bigint[]) AND parked_at IS NOT NULL",
                    [f[0] for f in failed],
                )
                if newly_parked:
                    log.error(
                        "outbox rows parked (verdicts outbox retry releases them)",
                        extra={"schema": self.schema, "parked": newly_parked, "error": failed[0][1]},
                    )
        if failed and not done:
            # Raised after commit so the attempt counts and last_error are kept.
            raise RuntimeError(f"outbox publish failed: {failed[0][1]}")
        return len(done)

    async def _publish_row(self, row: asyncpg.Record) -> None:
        headers: dict[str, str] = json.loads(row["headers"])
        parent = propagate.extract(headers)
        with tracer.start_as_current_span(
            f"{row['subject']} outbox relay", context=parent, kind=trace.SpanKind.PRODUCER
        ):
            trace_free = {k: v for k, v in headers.items() if k not in ("traceparent", "tracestate")}
            await self.publish(row["subject"], bytes(row["payload"]), trace_free)

    async def run(self) -> None:
        """Relay forever: wake on NOTIFY, poll as a fallback, back off on failure."""
        listener = await self._listen()
        failures = 0
        try:
            while True:
                try:
                    moved = await self.relay_once()
                    failures = 0
                except (asyncpg.PostgresError, OSError, RuntimeError, TimeoutError) as exc:
                    failures += 1
                    log.warning("outbox relay retrying", extra={"error": repr(exc), "failures": failures})
                    await asyncio.sleep(self.backoff.delay(failures))
                    continue
                if moved < self.batch_size:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_s)
        finally:
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.close()

    async def _listen(self) -> _Listener | None:
        """LISTEN on the schema's channel; ``None`` (poll only) when that fails."""
        try:
            conn = await self.pool.acquire()
        except (asyncpg.PostgresError, OSError):
            return None

        def wake(*_: Any) -> None:
            self._wake.set()

        await conn.add_listener(channel(self.schema), wake)
        return _Listener(self.pool, conn, wake, channel(self.schema))


class _Listener:
    """Returns the LISTEN connection to the pool on close."""

    def __init__(self, pool: asyncpg.Pool, conn: Any, cb: Callable[..., None], chan: str) -> None:
        self.pool, self.conn, self.cb, self.chan = pool, conn, cb, chan

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.conn.remove_listener(self.chan, self.cb)
        await self.pool.release(self.conn)
