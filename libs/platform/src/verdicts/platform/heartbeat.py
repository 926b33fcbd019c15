"""Keep a long-running JetStream job claimed while its handler works on it.

A job that takes minutes (a model review) would otherwise need an ack wait of minutes,
so a job held by a killed process came back only after those minutes. With a heartbeat
the ack wait stays short: the live handler says "in progress" every few seconds, and a
dead one simply stops saying it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Protocol

log = logging.getLogger(__name__)


class Claimable(Protocol):
    async def in_progress(self) -> None: ...


async def _beat(message: Claimable, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await message.in_progress()
        except Exception as exc:  # NATS away: the next beat (or a redelivery) copes
            log.debug("in-progress heartbeat not sent: %s", exc)


@contextlib.asynccontextmanager
async def claimed_while_running(message: Claimable, *, every_s: float) -> AsyncIterator[None]:
    """Send ``in_progress`` for ``message`` every ``every_s`` seconds until the block ends."""
    beat = asyncio.create_task(_beat(message, every_s), name="jetstream-heartbeat")
    try:
        yield
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
