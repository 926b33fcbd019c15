from __future__ import annotations

import math

import numpy as np
import pytest

from verdicts.votes.domain.ranking import DEFAULT_ALPHA, ELO_BASE, Comparison, RankedTool, rank_tools

pytestmark = pytest.mark.unit

TINY_ALPHA = 1e-9  # near enough to the unregularised maximum-likelihood fit for the analytic checks


def ballots(a: str, b: str, *, a_wins: int = 0, b_wins: int = 0, ties: int = 0) -> list[Comparison]:
    return (
        [Comparison(a, b, "a")] * a_wins + [Comparison(a, b, "b")] * b_wins + [Comparison(a, b, "tie")] * ties
    )


def by_slug(ranked: list[RankedTool]) -> dict[str, RankedTool]:
    return {tool.slug: tool for tool in ranked}


def test_two_tools_three_wins_of_four_is_odds_of_three() -> None:
    # The Bradley-Terry MLE for two items is w_A / w_B = wins_A / wins_B: here 3, or 400 log10 3
    # = 190.8 Elo points, split evenly about the 1000 mean.
    ranked = rank_tools(ballots("alpha", "beta", a_wins=3, b_wins=1), alpha=TINY_ALPHA, rounds=20)
    half = 200 * math.log10(3)
    assert [tool.slug for tool in ranked] == ["alpha", "beta"]
    assert ranked[0].score == pytest.approx(ELO_BASE + half, abs=0.05)
    assert ranked[1].score == pytest.approx(ELO_BASE - half, abs=0.05)
    assert [tool.rank for tool in ranked] == [1, 2]
    assert [tool.comparisons for tool in ranked] == [4, 4]


def test_regularisation_is_virtual_wins_each_way() -> None:
    # For two tools I-LSR's fixed point with alpha is w_A / w_B = (2 alpha + 3) / (2 alpha + 1).
    ranked = rank_tools(ballots("alpha", "beta", a_wins=3, b_wins=1), rounds=20)
    odds = (2 * DEFAULT_ALPHA + 3) / (2 * DEFAULT_ALPHA + 1)
    assert ranked[0].score - ranked[1].score == pytest.approx(400 * math.log10(odds), abs=0.1)


def test_a_tie_is_half_a_win_each_way() -> None:
    # 2 wins, 0 losses and 2 ties score as 3 wins of 4: the same odds of 3 as above.
    ranked = rank_tools(ballots("alpha", "beta", a_wins=2, ties=2), alpha=TINY_ALPHA, rounds=20)
    assert ranked[0].score - ranked[1].score == pytest.approx(400 * math.log10(3), abs=0.1)


def test_only_ties_means_equal_scores() -> None:
    ranked = rank_tools(ballots("alpha", "beta", ties=5), rounds=20)
    assert [tool.score for tool in ranked] == [ELO_BASE, ELO_BASE]


def zermelo(wins: np.ndarray, iterations: int = 20_000) -> np.ndarray:
    """The unregularised MLE by Zermelo's (1929) iteration, the MM algorithm of Hunter (2004)."""
    games = wins + wins.T
    strengths = np.ones(len(wins))
    for _ in range(iterations):
        pair_sums = strengths[:, None] + strengths[None, :]
        strengths = wins.sum(axis=1) / (games / pair_sums).sum(axis=1)
        strengths /= np.exp(np.log(strengths).mean())
    return ELO_BASE + 400 * np.log10(strengths)


def test_three_tools_with_ties_match_an_independent_fit() -> None:
    data = (
        ballots("a", "b", a_wins=4, b_wins=1, ties=1)
        + ballots("b", "c", a_wins=3, b_wins=2)
        + ballots("a", "c", a_wins=2, b_wins=1, ties=2)
    )
    wins = np.array([[0, 4.5, 3.0], [1.5, 0, 3.0], [2.0, 2.0, 0]])  # ties as 0.5 in both cells
    expected = zermelo(wins)
    got = by_slug(rank_tools(data, alpha=TINY_ALPHA, rounds=20))
    assert [got[s].score for s in "abc"] == pytest.approx(list(expected), abs=0.05)
    assert [got[s].rank for s in "abc"] == [1, 2, 3]
    assert [got[s].comparisons for s in "abc"] == [11, 11, 10]


def test_the_ordering_follows_the_record_and_ranks_count_from_one() -> None:
    data = (
        ballots("strong", "middle", a_wins=8, b_wins=2)
        + ballots("middle", "weak", a_wins=8, b_wins=2)
        + ballots("strong", "weak", a_wins=9, b_wins=1)
    )
    ranked = rank_tools(data)
    assert [tool.slug for tool in ranked] == ["strong", "middle", "weak"]
    assert [tool.rank for tool in ranked] == [1, 2, 3]
    assert sum(tool.score for tool in ranked) / 3 == pytest.approx(ELO_BASE, abs=0.1)


def test_every_interval_contains_its_estimate_and_has_width() -> None:
    data = (
        ballots("strong", "middle", a_wins=6, b_wins=3, ties=1)
        + ballots("middle", "weak", a_wins=5, b_wins=4)
        + ballots("strong", "weak", a_wins=7, b_wins=2)
    )
    for tool in rank_tools(data, rounds=300):
        assert tool.low <= tool.score <= tool.high
        assert tool.high - tool.low > 10


def test_more_ballots_narrow_the_interval() -> None:
    few = by_slug(rank_tools(ballots("x", "y", a_wins=6, b_wins=4), rounds=300))
    many = by_slug(rank_tools(ballots("x", "y", a_wins=600, b_wins=400), rounds=300))
    assert many["x"].high - many["x"].low < (few["x"].high - few["x"].low) / 4


def test_the_same_seed_gives_the_same_ranking_and_another_seed_may_not() -> None:
    data = ballots("x", "y", a_wins=6, b_wins=4, ties=2) + ballots("y", "z", a_wins=3, b_wins=5)
    assert rank_tools(data, seed=7) == rank_tools(data, seed=7)
    assert rank_tools(data, seed=7) != rank_tools(data, seed=8)


def test_unbeaten_and_disconnected_tools_stay_finite() -> None:
    data = ballots("champ", "chump", a_wins=10) + ballots("island-a", "island-b", a_wins=1, b_wins=1)
    ranked = by_slug(rank_tools(data))
    assert all(math.isfinite(v) for tool in ranked.values() for v in (tool.score, tool.low, tool.high))
    assert ranked["champ"].rank == 1
    assert ranked["chump"].rank == 4
    assert ranked["island-a"].score == ranked["island-b"].score


def test_only_tools_that_were_compared_are_listed() -> None:
    ranked = rank_tools(ballots("x", "y", a_wins=2, b_wins=1))
    assert {tool.slug for tool in ranked} == {"x", "y"}


def test_no_ballots_no_ranking() -> None:
    assert rank_tools([]) == []


@pytest.mark.parametrize("bad", [Comparison("x", "x", "a"), Comparison("x", "y", "draw")])  # type: ignore[arg-type]
def test_a_ballot_that_is_not_head_to_head_is_refused(bad: Comparison) -> None:
    with pytest.raises(ValueError, match="head-to-head"):
        rank_tools([bad])


@pytest.mark.parametrize(
    ("option", "value"), [("rounds", 0), ("alpha", 0.0), ("confidence", 1.0), ("confidence", 0.0)]
)
def test_nonsense_options_are_refused(option: str, value: float) -> None:
    with pytest.raises(ValueError, match=option):
        rank_tools(ballots("x", "y", a_wins=1), **{option: value})  # type: ignore[arg-type]
