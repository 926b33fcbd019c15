"""Votes: accepted votes per second end to end (HTTP -> JetStream -> tally in PostgreSQL) against
the raw nats-py JetStream publish rate measured in the same run; accept latency; the votes
process's resident memory before and after a million votes; the crash run at 100,000 votes."""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import nats
import psutil
from nats.js.api import StorageType, StreamConfig

sys.path.insert(0, str(Path(__file__).parents[1] / "services" / "votes" / "tests"))
from vote_chaos import Stack, announce_tools, cast_all, counted, running_stack, settled

CONCURRENCY = 32


async def raw_publish_rate(nats_url: str, n: int) -> float:
    """nats-py JetStream publishes (file storage, acked) of ballot-sized payloads, CONCURRENCY in flight."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="BENCH", subjects=["bench.>"], storage=StorageType.FILE))
        payload = (
            b'{"type": "verdicts.votes.ballot_cast.v1", "tool_slug": "alpha-tool", "choice": "ship"}' * 3
        )
        counter = iter(range(n))

        async def publisher() -> None:
            for i in counter:
                await js.publish("bench.raw", payload, headers={"Nats-Msg-Id": f"raw-{i}"})

        started = time.perf_counter()
        await asyncio.gather(*(publisher() for _ in range(CONCURRENCY)))
        return n / (time.perf_counter() - started)
    finally:
        await nc.close()


def rss_mb(stack: Stack) -> float:
    assert stack.votes.pid is not None
    return float(psutil.Process(stack.votes.pid).memory_info().rss) / 2**20


async def accepted_rate(stack: Stack, votes: int, seed: int) -> dict[str, Any]:
    """Distinct voters, one ballot each; the clock stops when PostgreSQL's tallies hold them all."""
    before = await counted(stack)
    started = time.perf_counter()
    outcome = await cast_all(
        stack, voters=votes, ballots_per_voter=1, concurrency=CONCURRENCY, rounds=0, seed=seed
    )
    want = {t: before.get(t, Counter()) + outcome.expected[t] for t in outcome.expected}
    got = await settled(stack, want, within=600)
    seconds = time.perf_counter() - started
    latencies = sorted(outcome.latencies_ms)
    return {
        "accepted": outcome.accepted,
        "per_s": outcome.accepted / seconds,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)],
        "exact": got == {t: +c for t, c in want.items()},
    }


async def run(votes: int, memory_votes: int, chaos_votes: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with running_stack(Path(tempfile.mkdtemp(prefix="verdicts-bench-votes-"))) as stack:
        await announce_tools(stack)
        await settled(stack, {}, within=0)
        results["raw_per_s"] = await raw_publish_rate(stack.nats.url, votes)
        results["http"] = await accepted_rate(stack, votes, seed=1)
        results["rss_before_mb"] = rss_mb(stack)
        if memory_votes:
            results["memory"] = await accepted_rate(stack, memory_votes, seed=2)
            results["rss_after_mb"] = rss_mb(stack)
    if chaos_votes:
        with running_stack(Path(tempfile.mkdtemp(prefix="verdicts-bench-chaos-"))) as stack:
            await announce_tools(stack)
            await settled(stack, {}, within=0)
            rounds = max(2, chaos_votes // 20_000)
            outcome = await cast_all(
                stack, voters=chaos_votes // 5, ballots_per_voter=5, concurrency=CONCURRENCY, rounds=rounds
            )
            got = await settled(stack, outcome.expected, within=600)
            results["chaos"] = {
                "accepted": outcome.accepted,
                "kills": len(outcome.kills),
                "retries": outcome.retries,
                "exact": got == {t: +c for t, c in outcome.expected.items()},
                "seconds": outcome.seconds,
            }
    return results


def report(r: dict[str, Any]) -> str:
    http = r["http"]
    lines = [
        "votes:",
        f"  raw nats-py JetStream publish: {r['raw_per_s']:,.0f} msg/s ({CONCURRENCY} in flight)",
        f"  accepted votes end to end (HTTP -> JetStream -> tally): {http['per_s']:,.0f} votes/s "
        f"({http['accepted']:,} votes) -> ratio {http['per_s'] / r['raw_per_s']:.2f} (goal >= 0.5)",
        f"  accept latency p50 {http['p50_ms']:.1f} ms, p99 {http['p99_ms']:.1f} ms; "
        f"tallies exact: {http['exact']}",
        f"  votes process RSS {r['rss_before_mb']:.0f} MiB before"
        + (f", {r['rss_after_mb']:.0f} MiB after {r['memory']['accepted']:,} more" if "memory" in r else ""),
    ]
    if "chaos" in r:
        c = r["chaos"]
        lines.append(
            f"  crash run: {c['accepted']:,} accepted votes, {c['kills']} SIGKILLs, "
            f"{c['retries']:,} client retries, {c['seconds']:.0f} s: counted exactly once: {c['exact']}"
        )
    return "\n".join(lines)
