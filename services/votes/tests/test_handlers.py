"""votes' subscribers on FastStream's in-memory broker: no nats-server, no PostgreSQL."""

from __future__ import annotations

import pytest
from faststream.nats import NatsBroker, TestNatsBroker
from pydantic import ValidationError

from verdicts.contracts import Tool, ToolAnnounced, ToolUpdated
from verdicts.platform.settings import PlatformSettings
from verdicts.platform.testing import sample_tools
from verdicts.votes.handlers import register, tool_memory

pytestmark = pytest.mark.unit


class RememberedTools:
    """What the handlers asked to remember, in order (stands in for the store's table)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    async def remember(self, tool: Tool, version: int) -> bool:
        self.calls.append((tool.slug, version))
        return True


@pytest.fixture
async def bus():
    broker = NatsBroker()
    register(broker, PlatformSettings(log_json=False))  # type: ignore[arg-type]
    remembered = RememberedTools()
    # Scoped: FastStream's dependency provider is shared by every broker in the process.
    with broker.provider.scope(tool_memory, lambda: remembered):
        async with TestNatsBroker(broker) as test_broker:
            yield test_broker, remembered


TOOL = Tool.model_validate({**sample_tools()[0], "slug": "claude-4-sonnet"})


async def test_announced_and_updated_tools_are_remembered_with_their_version(bus):
    broker, remembered = bus
    announced = ToolAnnounced.create(tool=TOOL, version=1, content_hash="a")
    updated = ToolUpdated.create(tool=TOOL, version=3, previous_version=2, content_hash="c")
    await broker.publish(announced.model_dump(mode="json"), ToolAnnounced.SUBJECT)
    await broker.publish(updated.model_dump(mode="json"), ToolUpdated.SUBJECT)
    assert remembered.calls == [("claude-4-sonnet", 1), ("claude-4-sonnet", 3)]


async def test_a_message_that_is_not_the_event_is_not_remembered(bus):
    broker, remembered = bus
    with pytest.raises(ValidationError):
        await broker.publish({"type": "verdicts.ingest.tool_announced.v1", "tool": {}}, ToolAnnounced.SUBJECT)
    assert remembered.calls == []
