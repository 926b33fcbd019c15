"""The one backoff policy: jittered exponential under a cap, retry-after honoured, deadlines kept."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from tenacity import AsyncRetrying, retry_if_exception_type

from verdicts.platform.backoff import Backoff, fits_before, monotonic_deadline

pytestmark = pytest.mark.unit


class Busy(Exception):
    def __init__(self, retry_after_s: float | None = None) -> None:
        super().__init__("busy")
        self.retry_after_s = retry_after_s


def test_delays_grow_jittered_and_stay_under_the_cap():
    policy = Backoff(first_s=0.1, cap_s=1.0)
    for retry, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (30, 1.0)]:
        delays = [policy.delay(retry) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 100  # jittered, not one value


def test_a_retry_after_hint_is_the_delay():
    assert Backoff(cap_s=1.0).delay(1, retry_after_s=7.5) == 7.5


def test_deadlines_on_the_monotonic_clock():
    assert fits_before(0.5, None)
    assert fits_before(0.5, time.monotonic() + 1)
    assert not fits_before(2, time.monotonic() + 1)
    soon = monotonic_deadline(datetime.now(UTC) + timedelta(seconds=10))
    assert 9 < soon - time.monotonic() <= 10
    naive_utc = monotonic_deadline(datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1))
    assert naive_utc < time.monotonic()


async def test_tenacity_stops_when_the_wait_would_pass_the_deadline():
    slept: list[float] = []
    calls = 0

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        raise Busy(retry_after_s=0.2 if calls == 1 else 5.0)

    policy = Backoff()
    retrying = AsyncRetrying(
        wait=policy.wait(retry_after=lambda exc: getattr(exc, "retry_after_s", None)),
        stop=policy.stop_before(time.monotonic() + 1.0, attempts=10),
        retry=retry_if_exception_type(Busy),
        sleep=sleep,
        reraise=True,
    )
    with pytest.raises(Busy):
        await retrying(flaky)
    assert slept == [0.2]  # the 5 s retry-after falls past the deadline: no second wait
    assert calls == 2


async def test_tenacity_stops_after_the_attempts():
    policy = Backoff(first_s=0.001, cap_s=0.001)
    calls = 0

    async def busy() -> None:
        nonlocal calls
        calls += 1
        raise Busy()

    retrying = AsyncRetrying(wait=policy.wait(), stop=policy.stop_before(None, attempts=3), reraise=True)
    with pytest.raises(Busy):
        await retrying(busy)
    assert calls == 3
