"""A job kept claimed by its heartbeat is not redelivered while it runs past the ack wait, and
one whose handler stopped beating comes back after the (short) ack wait, on the real NATS."""

from __future__ import annotations

import asyncio
import uuid

import nats
import pytest
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import ConsumerConfig

from verdicts.platform.heartbeat import claimed_while_running

pytestmark = pytest.mark.integration

ACK_WAIT_S = 1.0


@pytest.fixture
async def job_consumer(nats_url):
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    name = f"HEARTBEAT_{uuid.uuid4().hex[:8].upper()}"
    subject = f"heartbeat.{name.lower()}"
    await js.add_stream(name=name, subjects=[subject])
    await js.publish(subject, b"job")
    sub = await js.pull_subscribe(subject, durable="worker", config=ConsumerConfig(ack_wait=ACK_WAIT_S))
    yield sub
    await js.delete_stream(name)
    await nc.close()


async def redelivered_within(sub, seconds: float) -> bool:
    try:
        return bool(await sub.fetch(1, timeout=seconds))
    except NatsTimeout:
        return False


async def test_a_job_with_a_heartbeat_stays_claimed_past_the_ack_wait(job_consumer):
    [job] = await job_consumer.fetch(1, timeout=5)
    async with claimed_while_running(job, every_s=ACK_WAIT_S / 4):
        assert not await redelivered_within(job_consumer, ACK_WAIT_S * 3)
    await job.ack()
    assert job.metadata.num_delivered == 1


async def test_a_job_whose_worker_stopped_beating_comes_back_after_the_ack_wait(job_consumer):
    [job] = await job_consumer.fetch(1, timeout=5)
    async with claimed_while_running(job, every_s=ACK_WAIT_S / 4):
        await asyncio.sleep(ACK_WAIT_S / 2)
    # The worker "died" here: no ack, no more beats.
    [again] = await job_consumer.fetch(1, timeout=ACK_WAIT_S * 4)
    assert again.metadata.num_delivered == 2
    await again.ack()
