"""Resilience per route: a concurrency limit with a bounded queue, and a circuit breaker."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from enum import StrEnum

from verdicts.contracts import InferenceErrorKind
from verdicts.inference.domain import GatewayError


class BoundedLimiter:
    """At most ``concurrency`` calls run and ``max_queue`` wait; beyond that, ``overloaded`` at once.

    A waiter leaves the queue when its deadline passes (``deadline_exceeded``): nobody
    would read an answer started after that.
    """

    def __init__(self, concurrency: int, max_queue: int) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._max_queue = max_queue
        self.waiting = 0
        self.running = 0

    @contextlib.asynccontextmanager
    async def slot(self, route: str, deadline: float | None = None) -> AsyncIterator[None]:
        """Hold one of the slots; ``deadline`` is a ``time.monotonic()`` instant."""
        if self._slots.locked() and self.waiting >= self._max_queue:
            raise GatewayError(
                InferenceErrorKind.OVERLOADED,
                f"{route}: {self.running} running and {self.waiting} queued; try later",
                retry_after_s=1.0,
                route=route,
            )
        self.waiting += 1
        try:
            async with asyncio.timeout(None if deadline is None else deadline - time.monotonic()):
                await self._slots.acquire()
        except TimeoutError:
            raise GatewayError(
                InferenceErrorKind.DEADLINE_EXCEEDED,
                f"{route}: the deadline passed while queued behind {self.running} running calls",
                route=route,
            ) from None
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            self._slots.release()


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after ``threshold`` consecutive upstream failures; one trial call after ``cooldown_s``."""

    def __init__(self, threshold: int = 5, cooldown_s: float = 30.0) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.failures = 0
        self.opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> BreakerState:
        if self.opened_at is None:
            return BreakerState.CLOSED
        if time.monotonic() - self.opened_at >= self.cooldown_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def check(self, route: str) -> None:
        state = self.state
        if state is BreakerState.OPEN or (state is BreakerState.HALF_OPEN and self._trial):
            assert self.opened_at is not None
            remaining = max(0.0, self.cooldown_s - (time.monotonic() - self.opened_at))
            raise GatewayError(
                InferenceErrorKind.UPSTREAM_ERROR,
                f"{route}: circuit open after {self.failures} upstream failures",
                retry_after_s=round(remaining, 3) or 1.0,
                route=route,
            )
        if state is BreakerState.HALF_OPEN:
            self._trial = True

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self._trial = False

    def failure(self) -> None:
        self.failures += 1
        self._trial = False
        if self.failures >= self.threshold:
            self.opened_at = time.monotonic()
