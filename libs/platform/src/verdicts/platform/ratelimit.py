"""Per-key rate limiting for the HTTP layer (per voter, per client address, public reads), in process.

GCRA, the generic cell rate algorithm: a token bucket that stores one float per key, the theoretical
arrival time (TAT) of the next request, and so answers "how long until allowed" exactly, for a
``Retry-After`` header. A key whose TAT has passed is indistinguishable from a key never seen, so it is
dropped: a sweep runs whenever the table doubles since the last one, which keeps memory to about twice
the keys active within one burst period (``burst / per_second`` seconds), however many distinct keys
pass through over time, at amortised O(1) per hit and with no background thread. The ``limits``
package was weighed and not used: its MemoryStorage keeps an entry per key for ever under the moving
window (emptied lists are never removed), rescans every key from a timer thread re-armed 10 ms after
each hit, reads the wall clock (no clock to inject for tests) and takes whole-second windows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

MIN_SWEEP = 1024


class RateLimiter:
    """Allows ``burst`` hits at once per key, refilled at ``per_second``; not shared across processes."""

    def __init__(self, per_second: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if not per_second > 0:
            raise ValueError(f"per_second must be positive, got {per_second}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self._interval = 1.0 / per_second
        self._window = burst * self._interval
        self._clock = clock
        self._tat: dict[str, float] = {}
        self._sweep_at = MIN_SWEEP
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Count one request for ``key``: None when allowed, else the seconds to wait before retrying."""
        with self._lock:
            now = self._clock()
            tat = max(self._tat.get(key, now), now) + self._interval
            allowed_from = tat - self._window
            if now < allowed_from:
                return allowed_from - now
            self._tat[key] = tat
            if len(self._tat) >= self._sweep_at:
                self._sweep(now)
            return None

    def __len__(self) -> int:
        """How many keys are tracked now (expired ones linger until the next sweep)."""
        return len(self._tat)

    def _sweep(self, now: float) -> None:
        self._tat = {key: tat for key, tat in self._tat.items() if tat > now}
        self._sweep_at = max(MIN_SWEEP, 2 * len(self._tat))
