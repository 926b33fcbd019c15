"""Head-to-head ranking, pure: a Bradley-Terry fit of "A or B?" ballots, with bootstrap intervals.

Bradley-Terry gives each tool a strength w so that A beats B with probability w_A / (w_A + w_B); the
fit is choix's I-LSR (Maystre and Grossglauser 2015) on a matrix of win counts. A tie is half a win
each way (0.5 in both cells), the usual chess scoring: its likelihood term is 0.5 log P(A>B) +
0.5 log P(B>A), so a tie pulls the two strengths together without counting as two games. ``alpha``
adds the rate alpha to every pair in I-LSR's Markov chain, which amounts to about 2 * alpha virtual
wins each way between every two tools: it keeps the chain connected, so unbeaten, winless or
disconnected tools get finite scores pulled towards the others, at a cost that vanishes as real
ballots accumulate. Scores are on the Elo scale that LMArena also reports, 1000 + 400 log10(w) with the
mean log-strength at 1000, so 400 points apart means 10:1 odds. Intervals are percentile bootstraps:
resample the ballots with replacement ``rounds`` times from a seeded generator (same input, same page)
and refit, each tool judged only on the rounds whose resample contains it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, NamedTuple

import choix
import numpy as np
from numpy.typing import NDArray

Winner = Literal["a", "b", "tie"]

DEFAULT_ALPHA = 0.05
DEFAULT_ROUNDS = 200
ELO_BASE = 1000.0
ELO_PER_NAT = 400 / math.log(10)
_CREDIT_TO_A: dict[str, float] = {"a": 1.0, "b": 0.0, "tie": 0.5}


class Comparison(NamedTuple):
    """One head-to-head ballot: ``a`` against ``b``, and which won (or ``"tie"``)."""

    a: str
    b: str
    winner: Winner


@dataclass(frozen=True, slots=True)
class RankedTool:
    slug: str
    score: float  # Elo scale, 1 decimal
    low: float  # bootstrap interval on the same scale; it always contains ``score``
    high: float
    rank: int  # 1 is best
    comparisons: int  # ballots this tool was in


def rank_tools(
    comparisons: Iterable[Comparison],
    *,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = 0,
    alpha: float = DEFAULT_ALPHA,
    confidence: float = 0.95,
) -> list[RankedTool]:
    """Every tool that appears in ``comparisons``, best first; [] when there are none."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    if not alpha > 0:
        raise ValueError(f"alpha must be positive (it keeps the fit finite), got {alpha}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
    ballots = list(comparisons)
    for ballot in ballots:
        if ballot.a == ballot.b or ballot.winner not in _CREDIT_TO_A:
            raise ValueError(f"not a head-to-head ballot: {ballot!r}")
    if not ballots:
        return []

    slugs = sorted({ballot.a for ballot in ballots} | {ballot.b for ballot in ballots})
    index = {slug: i for i, slug in enumerate(slugs)}
    a = np.array([index[ballot.a] for ballot in ballots])
    b = np.array([index[ballot.b] for ballot in ballots])
    credit = np.array([_CREDIT_TO_A[ballot.winner] for ballot in ballots])
    counts = np.bincount(np.concatenate([a, b]), minlength=len(slugs))

    scores = _fit(a, b, credit, np.ones(len(ballots)), len(slugs), alpha)
    rng = np.random.default_rng(seed)
    samples = np.full((rounds, len(slugs)), np.nan)
    for r in range(rounds):
        weights = np.bincount(rng.integers(0, len(ballots), len(ballots)), minlength=len(ballots))
        samples[r] = _fit(a, b, credit, weights.astype(float), len(slugs), alpha)

    tail = 50 * (1 - confidence)
    order = sorted(range(len(slugs)), key=lambda i: (-scores[i], slugs[i]))
    ranked = []
    for rank, i in enumerate(order, start=1):
        seen = samples[~np.isnan(samples[:, i]), i]
        low, high = np.percentile(seen, [tail, 100 - tail]) if seen.size else (scores[i], scores[i])
        # A percentile interval can, rarely, miss its own point estimate; a page never shows that.
        ranked.append(
            RankedTool(
                slug=slugs[i],
                score=round(float(scores[i]), 1),
                low=round(float(min(low, scores[i])), 1),
                high=round(float(max(high, scores[i])), 1),
                rank=rank,
                comparisons=int(counts[i]),
            )
        )
    return ranked


def _fit(
    a: NDArray[np.int_],
    b: NDArray[np.int_],
    credit: NDArray[np.float64],
    weights: NDArray[np.float64],
    n: int,
    alpha: float,
) -> NDArray[np.float64]:
    """Elo-scale scores of the tools present under ``weights`` (how often each ballot counts); NaN for
    the others, which are left out of the fit rather than left to the prior."""
    wins = np.bincount(a * n + b, weights=weights * credit, minlength=n * n).astype(np.float64)
    wins += np.bincount(b * n + a, weights=weights * (1 - credit), minlength=n * n)
    wins_matrix = wins.reshape(n, n)
    present = np.bincount(np.concatenate([a, b]), weights=np.concatenate([weights, weights]), minlength=n) > 0
    params = choix.ilsr_pairwise_dense(wins_matrix[np.ix_(present, present)], alpha=alpha, max_iter=1000)
    scores = np.full(n, np.nan)
    scores[present] = ELO_BASE + ELO_PER_NAT * (params - params.mean())
    return scores
