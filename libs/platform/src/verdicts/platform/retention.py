"""Trimming write streams: a message goes once every consumer acknowledged it and it is old.

Write streams have no age limit (an unread ballot must never expire), so without this they would
fill up and refuse every write. Each round, per write stream: the lowest sequence some consumer
still needs (its ack floor; a consumer with nothing pending needs nothing), and the first message
younger than ``VERDICTS_STREAM_HISTORY_S``; everything before both is purged. Idempotent, so every
replica may run it. A stream without consumers is left alone; an abandoned durable consumer holds
its stream back (``verdicts status`` shows its lag) until it is deleted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import nats
from nats.js import JetStreamContext
from nats.js.api import StreamInfo
from nats.js.errors import NotFoundError

from verdicts.contracts.subjects import StreamName
from verdicts.platform.delivery_settings import DeliverySettings
from verdicts.platform.streams import WRITE_STREAMS

log = logging.getLogger(__name__)


async def needed_from(js: JetStreamContext, info: StreamInfo) -> int | None:
    """The lowest sequence a consumer of the stream may still need; None without consumers."""
    consumers = await js.consumers_info(info.config.name or "")
    if not consumers:
        return None
    last = info.state.last_seq
    floors = [
        last + 1
        if c.num_pending == 0 and c.num_ack_pending == 0
        else (c.ack_floor.stream_seq if c.ack_floor else 0) + 1
        for c in consumers
    ]
    return min(floors)


async def first_younger(js: JetStreamContext, stream: str, low: int, high: int, cutoff: dt.datetime) -> int:
    """The first sequence in ``[low, high)`` stored after ``cutoff`` (``high`` if none); binary search."""
    while low < high:
        mid = (low + high) // 2
        try:
            stored = (await js.get_msg(stream, mid)).time
        except NotFoundError:
            stored = None
        if stored is not None and stored <= cutoff:
            low = mid + 1
        else:
            high = mid
    return low


async def trim_stream(js: JetStreamContext, stream: StreamName, history_s: float) -> int:
    """Purge what every consumer acknowledged and is older than ``history_s``; returns how many."""
    info = await js.stream_info(stream.name)
    needed = await needed_from(js, info)
    first = info.state.first_seq
    if needed is None or needed <= first or info.state.messages == 0:
        return 0
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=history_s)
    keep_from = await first_younger(js, stream.name, first, needed, cutoff)
    if keep_from <= first:
        return 0
    await js.purge_stream(stream.name, seq=keep_from)
    log.info("stream trimmed", extra={"stream": stream.name, "kept_from": keep_from})
    return keep_from - first


async def trim_write_streams(nats_url: str, settings: DeliverySettings) -> dict[str, int]:
    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=0, allow_reconnect=False)
    try:
        js = nc.jetstream()
        return {s.name: await trim_stream(js, s, settings.stream_history_s) for s in WRITE_STREAMS}
    finally:
        await nc.close()


async def trim_forever(nats_url: str, settings: DeliverySettings) -> None:
    """The trim round every ``VERDICTS_STREAM_TRIM_INTERVAL_S``; a failed round is retried next time."""
    while True:
        await asyncio.sleep(settings.stream_trim_interval_s)
        try:
            await trim_write_streams(nats_url, settings)
        except Exception as exc:  # NATS away: the streams only grow until the next round
            log.warning("stream trim failed", extra={"error": exc.__class__.__name__})
