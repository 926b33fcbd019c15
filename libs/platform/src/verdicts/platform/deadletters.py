"""Dead letters, kept on DEADLETTER until an operator replays or drops them.

A dead letter's id is its DEADLETTER stream sequence. Replaying publishes the original body on its
original subject (``Nats-Msg-Id: replay:<id>``, so a replay retried inside the duplicate window is
one message; handlers are idempotent on the event id beyond it) and, once the stream acknowledged
it, deletes the dead letter. Used by ``verdicts deadletters`` and the admin routes, both on the
operator's NATS URL (``VERDICTS_NATS_URL``), not a service's own user.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass

import nats
from nats.js import JetStreamContext
from nats.js.errors import BadRequestError, NotFoundError
from pydantic import ValidationError

from verdicts.contracts import DeadLettered
from verdicts.contracts.subjects import ALL_STREAMS, DEAD_LETTER_PREFIX, DEAD_LETTER_STREAM
from verdicts.platform.outbox import MSG_ID_HEADER
from verdicts.platform.telemetry import current_trace_headers

REPLAYED_FROM_HEADER = "Verdicts-Replayed-From"
ALL_DEAD_LETTERS = f"{DEAD_LETTER_PREFIX}.>"


class UnknownDeadLetter(LookupError):
    """No dead letter with that id (never was, or already replayed or dropped)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    stored_at: dt.datetime | None
    record: DeadLettered


@contextlib.asynccontextmanager
async def jetstream(nats_url: str) -> AsyncIterator[JetStreamContext]:
    """A short-lived connection for an operator's command."""
    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=0, allow_reconnect=False)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


def _decode(seq: int, data: bytes, stored_at: dt.datetime | None) -> DeadLetter:
    try:
        record = DeadLettered.model_validate_json(data)
    except ValidationError:  # not ours: shown as it is, replayable nowhere
        record = DeadLettered(
            subject="",
            consumer="",
            reason="not a dead-letter record",
            deliveries=0,
            payload=data.decode(errors="replace"),
        )
    return DeadLetter(id=seq, stored_at=stored_at, record=record)


async def count(js: JetStreamContext) -> int:
    return (await js.stream_info(DEAD_LETTER_STREAM.name)).state.messages


async def list_dead_letters(js: JetStreamContext, *, after: int = 0, limit: int = 100) -> list[DeadLetter]:
    """Up to ``limit`` dead letters with an id above ``after``, oldest first."""
    found: list[DeadLetter] = []
    seq = after + 1
    while len(found) < limit:
        try:
            msg = await js.get_msg(DEAD_LETTER_STREAM.name, seq, subject=ALL_DEAD_LETTERS, next=True)
        except NotFoundError:
            break
        found.append(_decode(msg.seq or seq, msg.data or b"", msg.time))
        seq = (msg.seq or seq) + 1
    return found


async def get(js: JetStreamContext, dead_letter_id: int) -> DeadLetter:
    try:
        msg = await js.get_msg(DEAD_LETTER_STREAM.name, dead_letter_id)
    except (NotFoundError, BadRequestError):  # deleted, or not a sequence JetStream knows
        raise UnknownDeadLetter(dead_letter_id) from None
    return _decode(dead_letter_id, msg.data or b"", msg.time)


def _stream_of(subject: str) -> str:
    for stream in ALL_STREAMS:
        if stream is not DEAD_LETTER_STREAM and any(
            subject.startswith(s.removesuffix(">")) for s in stream.subjects
        ):
            return stream.name
    raise UnknownDeadLetter(f"no stream carries {subject!r}; drop it instead")


async def replay(js: JetStreamContext, dead_letter_id: int) -> DeadLetter:
    """Publish the original again (raises what the publish raised, e.g. a full stream) and forget it."""
    letter = await get(js, dead_letter_id)
    record = letter.record
    headers = {MSG_ID_HEADER: f"replay:{letter.id}", REPLAYED_FROM_HEADER: str(letter.id)}
    headers.update(current_trace_headers())  # the replay's handling joins the trace that asked for it
    await js.publish(
        record.subject, record.payload.encode(), headers=headers, stream=_stream_of(record.subject)
    )
    await drop(js, letter.id)
    return letter


async def replay_all(js: JetStreamContext, *, limit: int = 10_000) -> list[DeadLetter]:
    return [await replay(js, letter.id) for letter in await list_dead_letters(js, limit=limit)]


async def drop(js: JetStreamContext, dead_letter_id: int) -> None:
    await get(js, dead_letter_id)
    try:
        await js.delete_msg(DEAD_LETTER_STREAM.name, dead_letter_id)
    except (NotFoundError, BadRequestError):  # deleted meanwhile by another operator
        raise UnknownDeadLetter(dead_letter_id) from None
