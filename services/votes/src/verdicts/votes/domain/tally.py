"""The community tally, pure: ship/skip counts, the share that says ship and its Wilson score interval.

A bare percentage over few ballots misleads (3 of 4 reads as "75 %"), so every share is published with
its Wilson score interval, which stays inside 0-100 % and keeps sensible coverage at small n and at
0 or n successes, where the textbook Wald interval collapses to a point (Newcombe 1998, Brown, Cai and
DasGupta 2001). Below ``PROVISIONAL_BELOW`` ballots the tally is also flagged provisional.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import sqrt
from statistics import NormalDist

PROVISIONAL_BELOW = 30


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for ``successes`` out of ``n``, as fractions in [0, 1].

    No trials say nothing, so ``n == 0`` gives the whole range ``(0.0, 1.0)``.
    """
    if not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    z2_n = z * z / n
    centre = p + z2_n / 2
    half = z * sqrt(p * (1 - p) / n + z2_n / (4 * n))
    denominator = 1 + z2_n
    # Clamp the float noise at the ends: 0 successes gives -0.0, n successes 1.0000000000000002.
    return max(0.0, (centre - half) / denominator), min(1.0, (centre + half) / denominator)


@dataclass(frozen=True, slots=True)
class Tally:
    """One tool's community ballots."""

    ship: int
    skip: int

    def __post_init__(self) -> None:
        if self.ship < 0 or self.skip < 0:
            raise ValueError(f"ballot counts cannot be negative: ship={self.ship}, skip={self.skip}")

    @property
    def total(self) -> int:
        return self.ship + self.skip

    @property
    def community_ship_pct(self) -> float | None:
        """Percent of ballots that say ship, 1 decimal; None before the first ballot."""
        if self.total == 0:
            return None
        return round(100 * self.ship / self.total, 1)

    @property
    def interval(self) -> tuple[float, float]:
        """The 95 % Wilson interval of the ship share, in percent, 1 decimal ((0.0, 100.0) when empty)."""
        low, high = wilson_interval(self.ship, self.total)
        return round(100 * low, 1), round(100 * high, 1)

    @property
    def provisional(self) -> bool:
        return self.total < PROVISIONAL_BELOW
