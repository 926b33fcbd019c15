"""Idempotent JetStream stream provisioning: create, or update to the declared config.

Three kinds of stream:

- write streams (INGEST, PANEL, VOTES) carry accepted writes: a 202 ballot, an announcement, a
  panel job. ``DiscardPolicy.NEW`` and no age limit: when full, publishing fails (the HTTP edge
  answers 503 ``bus-full``, the outbox waits) and nothing unread is ever deleted. What every
  consumer has acknowledged is trimmed after ``VERDICTS_STREAM_HISTORY_S`` (``retention``).
- DEADLETTER keeps every dead letter until an operator replays or drops it: no age limit,
  ``DiscardPolicy.NEW`` (a refused dead letter leaves its message unacknowledged on its own stream).
- RENDER announces pages already written: 30 days, oldest dropped first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import nats
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from verdicts.contracts.subjects import (
    ALL_STREAMS,
    DEAD_LETTER_STREAM,
    INGEST_STREAM,
    PANEL_STREAM,
    VOTES_STREAM,
    StreamName,
)
from verdicts.platform.delivery_settings import DeliverySettings

log = logging.getLogger(__name__)

DAY_S = 86_400
WRITE_STREAMS = (INGEST_STREAM, PANEL_STREAM, VOTES_STREAM)
"""Streams whose messages are accepted writes: refused when full, never aged out unread."""


def stream_config(
    stream: StreamName, *, duplicate_window_s: float, settings: DeliverySettings | None = None
) -> StreamConfig:
    settings = settings or DeliverySettings()
    discard, max_age, max_msgs = DiscardPolicy.NEW, 0.0, -1
    if stream in WRITE_STREAMS:
        max_bytes, max_msgs = settings.limits_for(stream.name)
    elif stream == DEAD_LETTER_STREAM:
        max_bytes = settings.deadletter_max_bytes
    else:
        discard, max_age, max_bytes = DiscardPolicy.OLD, 30.0 * DAY_S, 8 * 1024**3
    return StreamConfig(
        name=stream.name,
        description=stream.description,
        subjects=list(stream.subjects),
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=discard,
        max_age=max_age,
        max_bytes=max_bytes,
        max_msgs=max_msgs,
        max_msg_size=1024**2,
        duplicate_window=duplicate_window_s,
        num_replicas=settings.stream_replicas,
    )


async def provision_streams(
    nats_url: str,
    *,
    duplicate_window_s: float,
    streams: Iterable[StreamName] = ALL_STREAMS,
    settings: DeliverySettings | None = None,
) -> list[str]:
    """Ensure every stream exists with its declared config; safe to run from every replica."""
    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=3)
    try:
        js = nc.jetstream()
        names = []
        for stream in streams:
            config = stream_config(stream, duplicate_window_s=duplicate_window_s, settings=settings)
            try:
                await js.stream_info(stream.name)
                await js.update_stream(config)
            except NotFoundError:
                await js.add_stream(config)
                log.info("stream created", extra={"stream": stream.name})
            names.append(stream.name)
        return names
    finally:
        await nc.close()
