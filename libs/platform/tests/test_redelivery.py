"""A failed JetStream message is nacked with the platform's backoff delay (found by the pipeline
chaos run: ``isinstance`` with FastStream's annotated ``NatsMessage`` alias raised TypeError, so
every retry came back at once and a short PostgreSQL outage used up all five deliveries)."""

from __future__ import annotations

import pytest
from faststream.nats.message import NatsMessage

from verdicts.platform.broker import nack

pytestmark = pytest.mark.unit


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
