"""Idempotent JetStream stream provisioning: create, or update to the declared config."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import nats
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from verdicts.contracts.subjects import ALL_STREAMS, StreamName

log = logging.getLogger(__name__)

DAY_S = 86_400


def stream_config(stream: StreamName, *, duplicate_window_s: float) -> StreamConfig:
    return StreamConfig(
        name=stream.name,
        description=stream.description,
        subjects=list(stream.subjects),
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        max_age=30 * DAY_S,
        max_bytes=8 * 1024**3,
        max_msg_size=1024**2,
        duplicate_window=duplicate_window_s,
        num_replicas=1,
    )


async def provision_streams(
    nats_url: str,
    *,
    duplicate_window_s: float,
    streams: Iterable[StreamName] = ALL_STREAMS,
) -> list[str]:
    """Ensure every stream exists with its declared config; safe to run from every replica."""
    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=3)
    try:
        js = nc.jetstream()
        names = []
        for stream in streams:
            config = stream_config(stream, duplicate_window_s=duplicate_window_s)
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
