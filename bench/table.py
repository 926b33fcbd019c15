"""One table for every benchmark: figure, measured, baseline (same run), ratio, goal, met.

A benchmark module returns its result and turns it into ``Row``s; ``__main__`` prints them all.
Figures carry the service process's CPU seconds per 1,000 requests where there are requests:
unlike a rate, that figure survives a noisy machine.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass

AT_LEAST = (">=", operator.ge)
AT_MOST = ("<=", operator.le)


@dataclass(frozen=True)
class Goal:
    sign: str
    test: Callable[[float, float], bool]
    target: float

    @classmethod
    def at_least(cls, target: float) -> Goal:
        return cls(*AT_LEAST, target)

    @classmethod
    def at_most(cls, target: float) -> Goal:
        return cls(*AT_MOST, target)

    def met(self, value: float) -> bool:
        return self.test(value, self.target)

    def __str__(self) -> str:
        return f"{self.sign} {self.target:g}"


@dataclass(frozen=True)
class Row:
    """One figure. With a baseline, the goal applies to ``measured / baseline``; without one, to
    ``measured`` itself (an absolute goal such as seconds or milliseconds)."""

    figure: str
    measured: float
    unit: str
    goal: Goal | None = None
    baseline: float | None = None
    baseline_label: str = ""
    cpu_s_per_1000: float | None = None
    """The service process's CPU seconds per 1,000 requests (None where not measured)."""

    @property
    def ratio(self) -> float | None:
        return self.measured / self.baseline if self.baseline else None

    @property
    def judged(self) -> float:
        return self.ratio if self.ratio is not None else self.measured

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.goal.met(self.judged)


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render(rows: Iterable[Row]) -> str:
    rows = list(rows)
    header = ("figure", "measured", "baseline", "ratio", "goal", "met", "CPU s/1k req")
    cells = [
        (
            r.figure,
            f"{_number(r.measured)} {r.unit}",
            f"{_number(r.baseline)} {r.baseline_label}".strip() if r.baseline is not None else "-",
            f"{r.ratio:.2f}" if r.ratio is not None else "-",
            str(r.goal) if r.goal else "-",
            {True: "yes", False: "NO", None: "-"}[r.met],
            f"{r.cpu_s_per_1000:.2f}" if r.cpu_s_per_1000 is not None else "-",
        )
        for r in rows
    ]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *cells, strict=True)]

    def line(values: Iterable[str]) -> str:
        return " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    met = [r.met for r in rows if r.met is not None]
    return "\n".join(
        [
            line(header),
            "-+-".join("-" * w for w in widths),
            *(line(c) for c in cells),
            f"goals met: {sum(met)} of {len(met)}",
        ]
    )
