"""One retry backoff policy for every retry loop: jittered exponential with a cap,
honouring a server's retry-after hint and the caller's deadline.

Plain loops call ``Backoff.delay``; tenacity takes ``Backoff.wait`` and
``Backoff.stop_before`` directly (they are tenacity-shaped callables, so this
module needs no tenacity import)::

    policy = Backoff(first_s=0.25, cap_s=8)
    retrying = tenacity.AsyncRetrying(
        wait=policy.wait(retry_after=lambda exc: getattr(exc, "retry_after_s", None)),
        stop=policy.stop_before(deadline, attempts=4),
        reraise=True,
    )

Deadlines are instants on the ``time.monotonic()`` clock (the asyncio loop's
clock too); ``monotonic_deadline`` turns a wall-clock ``datetime`` into one.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol


class _Outcome(Protocol):
    def exception(self) -> BaseException | None: ...


class RetryState(Protocol):
    """The part of ``tenacity.RetryCallState`` the policy reads."""

    @property
    def attempt_number(self) -> int: ...
    @property
    def outcome(self) -> _Outcome | None: ...
    @property
    def upcoming_sleep(self) -> float: ...


RetryAfter = Callable[[BaseException | None], float | None]
"""The server's retry-after hint (seconds) carried by a failure, if any."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Jittered exponential backoff: retry ``n`` waits a random time in
    ``[0.5, 1] * min(cap_s, first_s * factor ** (n - 1))``, or exactly the server's
    retry-after when it gave one (the server knows best; the deadline still rules).
    """

    first_s: float = 0.25
    cap_s: float = 30.0
    factor: float = 2.0

    def delay(self, retry: int, *, retry_after_s: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 = the first retry)."""
        if retry_after_s is not None:
            return max(0.0, retry_after_s)
        ceiling = min(self.cap_s, self.first_s * self.factor ** max(0, retry - 1))
        # Jitter spreads retries from many clients; never below half, never above the cap.
        return ceiling * (0.5 + random.random() / 2)  # noqa: S311

    def wait(self, retry_after: RetryAfter | None = None) -> Callable[[RetryState], float]:
        """A tenacity ``wait=``: ``delay`` for the attempt, with the failure's retry-after hint."""

        def wait(state: RetryState) -> float:
            exc = state.outcome.exception() if state.outcome is not None else None
            hint = retry_after(exc) if retry_after is not None else None
            return self.delay(state.attempt_number, retry_after_s=hint)

        return wait

    @staticmethod
    def stop_before(deadline: float | None, *, attempts: int | None = None) -> Callable[[RetryState], bool]:
        """A tenacity ``stop=``: give up after ``attempts`` tries, or when the coming wait
        would end at or past ``deadline``.

        tenacity computes the wait before asking ``stop``, so a caller whose deadline
        falls inside the wait is never retried (nobody would read the answer).
        """

        def stop(state: RetryState) -> bool:
            if attempts is not None and state.attempt_number >= attempts:
                return True
            return not fits_before(state.upcoming_sleep, deadline)

        return stop


def fits_before(wait_s: float, deadline: float | None) -> bool:
    """Whether waiting ``wait_s`` from now still ends before ``deadline`` (monotonic)."""
    return deadline is None or time.monotonic() + wait_s < deadline


def monotonic_deadline(at: datetime) -> float:
    """A wall-clock deadline (naive means UTC) as an instant on the ``time.monotonic()`` clock."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return time.monotonic() + (at - datetime.now(UTC)).total_seconds()
