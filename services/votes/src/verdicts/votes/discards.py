"""Discarded ballots, buffered: a flood of refused votes must not become a flood of writes.

The HTTP layer records each refusal here; a loop writes them in one batch a second. The buffer is
bounded; what overflows is counted and logged, never blocks a request.
"""

from __future__ import annotations

import asyncio
import logging

from verdicts.platform.metrics import VOTES_DISCARDED
from verdicts.platform.service import Runtime
from verdicts.votes import store
from verdicts.votes.store import Discard

log = logging.getLogger(__name__)


class DiscardLog:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.pending: list[Discard] = []
        self.overflow = 0

    def add(self, tool: str | None, voter: str | None, reason: str, detail: str | None = None) -> None:
        VOTES_DISCARDED.labels(reason).inc()
        if len(self.pending) >= self.capacity:
            self.overflow += 1
            return
        self.pending.append(Discard(tool, voter, reason, detail))

    async def flush(self, runtime: Runtime) -> int:
        batch, self.pending = self.pending, []
        if batch:
            try:
                async with runtime.pool.acquire() as conn, conn.transaction():
                    await store.record_discards(conn, batch)
            except Exception:
                self.pending = batch + self.pending  # kept for the next flush
                raise
        if self.overflow:
            log.warning("discard records dropped: buffer full", extra={"dropped": self.overflow})
            self.overflow = 0
        return len(batch)

    async def run(self, runtime: Runtime, interval_s: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.flush(runtime)
            except Exception:
                log.exception("writing discard records failed; retrying")
