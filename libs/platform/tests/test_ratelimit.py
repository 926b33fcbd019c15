from __future__ import annotations

import pytest

from verdicts.platform.ratelimit import MIN_SWEEP, RateLimiter

pytestmark = pytest.mark.unit


class Clock:
    """A clock the test moves by hand: no sleeps, nothing to flake on a loaded machine."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_allowed_then_refused_with_the_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(per_second=2, burst=3, clock=clock)
    assert [limiter.hit("voter") for _ in range(3)] == [None, None, None]
    wait = limiter.hit("voter")
    assert wait == pytest.approx(0.5)


def test_refused_hits_do_not_push_the_wait_further() -> None:
    clock = Clock()
    limiter = RateLimiter(per_second=1, burst=1, clock=clock)
    assert limiter.hit("voter") is None
    assert limiter.hit("voter") == pytest.approx(1.0)
    assert limiter.hit("voter") == pytest.approx(1.0)


def test_allowed_again_after_waiting_what_it_said() -> None:
    clock = Clock()
    limiter = RateLimiter(per_second=2, burst=3, clock=clock)
    for _ in range(3):
        limiter.hit("voter")
    wait = limiter.hit("voter")
    assert wait is not None
    clock.now += wait * 0.9
    assert limiter.hit("voter") is not None
    clock.now += wait * 0.1
    assert limiter.hit("voter") is None
    assert limiter.hit("voter") is not None


def test_the_bucket_refills_to_the_burst_and_no_further() -> None:
    clock = Clock()
    limiter = RateLimiter(per_second=10, burst=5, clock=clock)
    for _ in range(5):
        limiter.hit("addr")
    clock.now += 60  # idle for a long time: the full burst again, not 600 saved-up hits
    assert [limiter.hit("addr") for _ in range(5)] == [None] * 5
    assert limiter.hit("addr") is not None


def test_keys_are_independent() -> None:
    clock = Clock()
    limiter = RateLimiter(per_second=1, burst=2, clock=clock)
    assert limiter.hit("voter-a") is None
    assert limiter.hit("voter-a") is None
    assert limiter.hit("voter-a") is not None
    assert limiter.hit("voter-b") is None
    assert limiter.hit("203.0.113.7") is None


def test_a_slow_rate_gives_a_long_retry_after() -> None:
    clock = Clock()
    limiter = RateLimiter(per_second=1 / 60, burst=1, clock=clock)
    assert limiter.hit("voter") is None
    assert limiter.hit("voter") == pytest.approx(60.0)


def test_memory_stays_bounded_over_many_distinct_keys() -> None:
    clock = Clock()
    limiter = RateLimiter(per_second=1, burst=5, clock=clock)  # a key lives 5 s after its last hit
    for i in range(200_000):
        clock.now += 0.001  # 1000 new keys a second: about 5000 alive at any time
        assert limiter.hit(f"198.51.100.{i}") is None
        assert len(limiter) <= 2 * 5000 + MIN_SWEEP
    clock.now += 10
    limiter.hit("one-more")
    assert len(limiter) <= 2 * 5000 + MIN_SWEEP


def test_a_sweep_forgets_expired_keys_and_keeps_live_ones() -> None:
    clock = Clock()
    limiter = RateLimiter(per_second=1, burst=1, clock=clock)  # a key lives 1 s after its hit
    for i in range(MIN_SWEEP - 2):
        assert limiter.hit(f"old-{i}") is None
    clock.now += 0.5
    assert limiter.hit("busy") is None
    clock.now += 0.7  # the old keys have expired, "busy" has 0.3 s to go
    assert limiter.hit("new") is None  # the table reaches MIN_SWEEP: sweep
    assert len(limiter) == 2
    assert limiter.hit("busy") == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("per_second", "burst", "complaint"), [(0, 1, "per_second"), (-1, 1, "per_second"), (1, 0, "burst")]
)
def test_nonsense_limits_are_refused(per_second: float, burst: int, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        RateLimiter(per_second=per_second, burst=burst)
