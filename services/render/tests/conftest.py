"""Fixtures shared by render's tests: events onto the bus as the other services publish them."""

from __future__ import annotations

import nats
import pytest


@pytest.fixture(scope="module")
async def bus(settings):
    nc = await nats.connect(settings.nats_url)
    js = nc.jetstream()

    async def publish(*events) -> None:
        for event in events:
            await js.publish(
                event.SUBJECT, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.event_id}
            )

    publish.js = js  # type: ignore[attr-defined]
    yield publish
    await nc.close()
