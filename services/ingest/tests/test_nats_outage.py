"""NATS down when a tool is announced: the HTTP answer is 2xx, the event arrives once later."""

from __future__ import annotations

import asyncio

import nats
import pytest
from litestar.testing import AsyncTestClient

from verdicts.contracts import ToolAnnounced
from verdicts.contracts.subjects import INGEST_STREAM
from verdicts.ingest.app import create_app
from verdicts.platform.access.issuing import grant
from verdicts.platform.access.keys import Scope
from verdicts.platform.embedded.nats import EmbeddedNats
from verdicts.platform.embedded.process import free_port
from verdicts.platform.service import build_app
from verdicts.platform.testing.plugin import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOOL = {
    "name": "Outage Tool",
    "vendor": "Outage Co",
    "category": "Developer Tools",
    "tagline": "Announced while NATS was down",
    "description": "It must still be announced exactly once.",
    "pricing": {"model": "free"},
    "homepage": "https://example.com/outage",
}


async def announced(url: str) -> list[ToolAnnounced]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe("ingest.tool.announced", stream=INGEST_STREAM.name, ordered_consumer=True)
        events = []
        while True:
            try:
                events.append(ToolAnnounced.model_validate_json((await sub.next_msg(timeout=1)).data))
            except nats.errors.TimeoutError:
                return events
    finally:
        await nc.close()


async def test_announce_while_nats_is_down_arrives_exactly_once(tmp_path, settings, database_url):
    key = await grant(database_url, Scope.TOOLS_WRITE, vendors=(TOOL["vendor"],))
    port = free_port()
    server = EmbeddedNats(tmp_path / "nats", port=port)
    server.start()
    own = settings.model_copy(update={"nats_url": server.url, "nats_logins": server.service_logins()})
    try:
        async with AsyncTestClient(build_app([create_app()], own)) as client:
            assert (await client.get("/health/ready")).status_code == 200
            server.stop()
            assert (await client.get("/health/ready")).json()["checks"]["broker"] != "ok"

            response = await client.post("/v1/tools", json=TOOL, headers={"Authorization": f"Bearer {key}"})
            assert response.status_code == 201
            await asyncio.sleep(2)  # the relay tries, fails and backs off meanwhile

            server = EmbeddedNats(tmp_path / "nats", port=port)
            server.start()
            events = await eventually(lambda: announced(server.url), within=30)
            await asyncio.sleep(2)  # any late re-send would show up now
            events = await announced(server.url)
            assert [e.tool.slug for e in events] == ["outage-tool"]
            assert (await client.get("/health/ready")).status_code == 200
    finally:
        server.stop()
