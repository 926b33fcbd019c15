from __future__ import annotations

import pytest

from verdicts.votes.domain.tally import PROVISIONAL_BELOW, Tally, wilson_interval

pytestmark = pytest.mark.unit

# Newcombe RG (1998), "Two-sided confidence intervals for the single proportion: comparison of seven
# methods", Statistics in Medicine 17(8):857-872: its worked examples, method 3 (Wilson score without
# continuity correction), 95 %. Recomputed here with the exact z = 1.959964 and with z = 1.96: same to
# 4 decimals.
NEWCOMBE_1998 = [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
]


@pytest.mark.parametrize(("successes", "n", "low", "high"), NEWCOMBE_1998)
def test_wilson_matches_newcombe_1998(successes: int, n: int, low: float, high: float) -> None:
    got_low, got_high = wilson_interval(successes, n)
    assert got_low == pytest.approx(low, abs=5e-5)
    assert got_high == pytest.approx(high, abs=5e-5)


def test_no_trials_say_nothing() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_all_and_none_stay_inside_the_unit_interval() -> None:
    low, high = wilson_interval(29, 29)
    assert high == 1.0
    assert low == pytest.approx(0.8830, abs=5e-5)  # the mirror of 0/29, high 0.1170
    low, high = wilson_interval(0, 29)
    assert low == 0.0
    assert high == pytest.approx(0.1170, abs=5e-5)


def test_a_higher_confidence_gives_a_wider_interval() -> None:
    low95, high95 = wilson_interval(81, 263)
    low99, high99 = wilson_interval(81, 263, confidence=0.99)
    assert low99 < low95 < 81 / 263 < high95 < high99


@pytest.mark.parametrize(("successes", "n", "confidence"), [(-1, 5, 0.95), (6, 5, 0.95), (1, -1, 0.95)])
def test_impossible_counts_are_refused(successes: int, n: int, confidence: float) -> None:
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(successes, n, confidence)


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5])
def test_confidence_must_be_a_probability(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 2, confidence)


def test_tally_reports_share_and_interval_in_percent() -> None:
    tally = Tally(ship=81, skip=182)
    assert tally.total == 263
    assert tally.community_ship_pct == 30.8
    assert tally.interval == (25.5, 36.6)
    assert not tally.provisional


def test_an_empty_tally_has_no_share_and_the_whole_range() -> None:
    tally = Tally(ship=0, skip=0)
    assert tally.total == 0
    assert tally.community_ship_pct is None
    assert tally.interval == (0.0, 100.0)
    assert tally.provisional


def test_all_ship_and_none_ship() -> None:
    assert Tally(ship=20, skip=0).community_ship_pct == 100.0
    assert Tally(ship=20, skip=0).interval == (83.9, 100.0)
    assert Tally(ship=0, skip=20).community_ship_pct == 0.0
    assert Tally(ship=0, skip=20).interval == (0.0, 16.1)


def test_provisional_until_thirty_ballots() -> None:
    assert PROVISIONAL_BELOW == 30
    assert Tally(ship=15, skip=14).provisional
    assert not Tally(ship=15, skip=15).provisional


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        Tally(ship=-1, skip=3)
