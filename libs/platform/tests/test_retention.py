"""What streams keep: write streams refuse when full and never age out; trimming removes only what
every consumer acknowledged and is older than the history window. Real nats-server."""

from __future__ import annotations

import contextlib

import nats
import pytest
from nats.js.api import DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from verdicts.contracts.subjects import ALL_STREAMS, DEAD_LETTER_STREAM, RENDER_STREAM, StreamName
from verdicts.platform.delivery_settings import StreamLimits
from verdicts.platform.retention import trim_stream
from verdicts.platform.settings import PlatformSettings
from verdicts.platform.streams import WRITE_STREAMS, stream_config

TRIM = StreamName("TRIMTEST", ("trimtest.>",), "trimming under test")


def test_write_streams_refuse_when_full_and_never_age_out():
    settings = PlatformSettings(
        stream_replicas=3, stream_max_bytes=10_000, stream_limits={"VOTES": StreamLimits(max_msgs=5)}
    )
    configs = {s.name: stream_config(s, duplicate_window_s=120, settings=settings) for s in ALL_STREAMS}
    for stream in WRITE_STREAMS:
        config = configs[stream.name]
        assert (config.discard, config.max_age, config.max_bytes) == ("new", 0, 10_000)
        assert config.num_replicas == 3
    assert configs["VOTES"].max_msgs == 5
    assert configs["INGEST"].max_msgs == -1
    assert configs[DEAD_LETTER_STREAM.name].max_age == 0
    assert configs[RENDER_STREAM.name].discard == "old"


def test_stream_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("VERDICTS_STREAM_REPLICAS", "3")
    monkeypatch.setenv("VERDICTS_STREAM_LIMITS", '{"VOTES": {"max_bytes": 4096}}')
    settings = PlatformSettings()
    assert settings.stream_replicas == 3
    assert settings.limits_for("VOTES") == (4096, -1)


@pytest.fixture
async def js(nats_url):
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    with contextlib.suppress(NotFoundError):
        await js.delete_stream(TRIM.name)
    await js.add_stream(
        StreamConfig(
            name=TRIM.name, subjects=list(TRIM.subjects), storage=StorageType.FILE, discard=DiscardPolicy.NEW
        )
    )
    yield js
    await js.delete_stream(TRIM.name)
    await nc.close()


@pytest.mark.integration
async def test_trim_removes_only_what_every_consumer_acknowledged(js):
    assert await trim_stream(js, TRIM, history_s=0) == 0  # no messages
    for i in range(6):
        await js.publish("trimtest.a", str(i).encode(), stream=TRIM.name)
    assert await trim_stream(js, TRIM, history_s=0) == 0  # no consumers: nobody said it read anything

    fast = await js.pull_subscribe("trimtest.a", durable="fast", stream=TRIM.name)
    slow = await js.pull_subscribe("trimtest.a", durable="slow", stream=TRIM.name)
    for msg in await fast.fetch(6, timeout=2):
        await msg.ack_sync()
    for msg in await slow.fetch(2, timeout=2):
        await msg.ack_sync()
    assert await trim_stream(js, TRIM, history_s=3600) == 0  # acknowledged, but inside the history
    assert await trim_stream(js, TRIM, history_s=0) == 2  # what "slow" has not read stays
    assert (await js.stream_info(TRIM.name)).state.first_seq == 3

    for msg in await slow.fetch(4, timeout=2):
        await msg.ack_sync()
    assert await trim_stream(js, TRIM, history_s=0) == 4
    assert (await js.stream_info(TRIM.name)).state.messages == 0
    await js.delete_consumer(TRIM.name, "fast")
    await js.delete_consumer(TRIM.name, "slow")
