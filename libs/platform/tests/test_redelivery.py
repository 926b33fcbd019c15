"""A failed JetStream message is nacked with the platform's backoff delay (found by the pipeline
chaos run: ``isinstance`` with FastStream's annotated ``NatsMessage`` alias raised TypeError, so
every retry came back at once and a short PostgreSQL outage used up all five deliveries), and a
handler that found PostgreSQL or NATS away is never dead-lettered for it."""

from __future__ import annotations

import asyncpg
import pytest
from faststream.nats.message import NatsMessage

from verdicts.platform.broker import nack, waited_out

pytestmark = pytest.mark.unit


def _raised_while_handling(error: BaseException, cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except BaseException:
            raise error  # noqa: B904 -- an implicit __context__
    except BaseException as raised:
        return raised


async def test_a_failed_message_comes_back_after_a_delay():
    delays: list[float | None] = []
    message = NatsMessage.__new__(NatsMessage)  # no raw message needed: only nack is called

    async def record(delay: float | None = None) -> None:
        delays.append(delay)

    message.nack = record  # type: ignore[method-assign]
    await nack(message, deliveries=3)
    assert len(delays) == 1
    assert delays[0] is not None
    assert delays[0] > 0


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
        # a transaction left after PostgreSQL was killed (the full chaos run dead-lettered tallies)
        asyncpg.InterfaceError("cannot call Transaction.__aexit__(): the underlying connection is closed"),
    ],
)
def test_postgresql_or_nats_away_is_waited_out(error):
    assert waited_out(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad payload"),
        LookupError("no tool"),
        TypeError("bug"),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        _raised_while_handling(ValueError("bad path"), FileNotFoundError(2, "No such file")),
    ],
)
def test_a_bad_message_or_a_bug_still_uses_up_its_deliveries(error):
    assert not waited_out(error)
