"""A publish the bus refused, as the HTTP edge answers it: 503 with ``Retry-After``.

``bus-full``: a write stream reached its limits (``DiscardPolicy.NEW``: nothing stored is dropped
to make room, so the writer waits); ``bus-unavailable``: NATS or JetStream did not answer.
"""

from __future__ import annotations

from litestar.plugins.problem_details import ProblemDetailsException
from nats.js.errors import APIError

from verdicts.platform.http import problem

STREAM_STORE_FAILED = 10077
"""JetStream's error code for a message a full stream refused (maximum messages/bytes exceeded)."""
FULL_RETRY_AFTER_S = 5


def is_bus_full(exc: BaseException) -> bool:
    return isinstance(exc, APIError) and exc.err_code == STREAM_STORE_FAILED


def bus_problem(exc: BaseException, detail: str) -> ProblemDetailsException:
    """503 ``bus-full`` (retry in a few seconds) or ``bus-unavailable`` (retry in one)."""
    if is_bus_full(exc):
        return problem(
            503,
            "bus-full",
            "Try again later",
            f"the bus is full; {detail}",
            headers={"Retry-After": str(FULL_RETRY_AFTER_S)},
        )
    return problem(
        503, "bus-unavailable", "Try again", f"the bus did not answer; {detail}", headers={"Retry-After": "1"}
    )
