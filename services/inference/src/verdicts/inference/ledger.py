"""The usage ledger's interface: reserve the most a call can cost before it, settle after.

``store.PostgresLedger`` is the service's; ``InMemoryLedger`` keeps the same rules
(``domain.fits_budget``) for a gateway without a database (unit tests, a bare ``Gateway``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Protocol

from verdicts.inference.domain import fits_budget


@dataclass(frozen=True, slots=True)
class UsageRecord:
    route: str
    backend: str
    model: str
    caller: str
    tokens_in: int
    tokens_out: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: Decimal
    latency_ms: float
    outcome: str


@dataclass(frozen=True, slots=True)
class Reservation:
    """Money held against a route's budget for one day until the call is settled."""

    route: str
    day: date
    amount: Decimal


class BudgetRefused(Exception):
    """The reservation does not fit: ``spent`` settled and ``reserved`` in flight today."""

    def __init__(self, spent: Decimal, reserved: Decimal) -> None:
        super().__init__(f"spent {spent}, reserved {reserved}")
        self.spent = spent
        self.reserved = reserved


class Ledger(Protocol):
    async def reserve(self, route: str, amount: Decimal, limit: Decimal) -> Reservation:
        """Hold ``amount`` if today's spent + reserved + amount stays within ``limit``;
        else raise ``BudgetRefused``. Atomic against concurrent callers."""
        ...

    async def settle(self, reservation: Reservation | None, usage: UsageRecord | None) -> None:
        """Release the reservation, add what was spent, write the usage row: all at once."""
        ...


class InMemoryLedger:
    """The same rules in one process's memory (one event loop: no interleaving inside a method)."""

    def __init__(self) -> None:
        self.days: dict[tuple[str, date], tuple[Decimal, Decimal]] = {}  # (reserved, spent)
        self.usage: list[UsageRecord] = []

    async def reserve(self, route: str, amount: Decimal, limit: Decimal) -> Reservation:
        day = datetime.now(UTC).date()
        reserved, spent = self.days.get((route, day), (Decimal(0), Decimal(0)))
        if not fits_budget(spent, reserved, amount, limit):
            raise BudgetRefused(spent, reserved)
        self.days[(route, day)] = (reserved + amount, spent)
        return Reservation(route, day, amount)

    async def settle(self, reservation: Reservation | None, usage: UsageRecord | None) -> None:
        if usage is not None:
            self.usage.append(usage)
        if reservation is not None:
            key = (reservation.route, reservation.day)
            reserved, spent = self.days[key]
            self.days[key] = (reserved - reservation.amount, spent + (usage.cost_usd if usage else 0))
