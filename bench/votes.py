"""Votes: accepted votes per second end to end (HTTP -> JetStream -> tally in PostgreSQL) against
the raw nats-py JetStream publish rate measured in the same run; the accept latency at half that
raw rate; the votes process's resident memory after 10,000 votes and after many more; the crash
run (SIGKILLs of nats-server, PostgreSQL and votes while voting).

The HTTP load is wrk (``bench/wrk/votes.lua``: one ballot per distinct voter token and tool, each
with its own nonce), pinned away from the votes process; beside each rate the votes process's CPU
seconds per 1,000 requests."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import nats
import psutil
from nats.js.api import StorageType, StreamConfig

from bench.harness import Running, pin_to_service_cpus
from bench.profile import profiled
from bench.table import Goal, Row
from bench.wrk import WrkResult, wrk

sys.path.insert(0, str(Path(__file__).parents[1] / "services" / "votes" / "tests"))
from vote_chaos import SECRET, TOOLS, Stack, announce_tools, cast_all, running_stack, settled

from verdicts.votes.domain.tokens import issue_token

CONCURRENCY = 32
FIRST_READING = 10_000
"""Votes before the first RSS reading (the service warm, its caches full)."""
LATENCY_CONNECTIONS = 16
"""Connections of the latency run, each pausing between ballots so that together they offer half
the raw rate."""


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


async def total_counted(stack: Stack) -> int:
    conn = await asyncpg.connect(stack.postgres.url())
    try:
        return int(await conn.fetchval("SELECT coalesce(sum(ship + skip), 0) FROM votes.tallies"))
    finally:
        await conn.close()


@contextmanager
def tokens_file(voters: int) -> Iterator[Path]:
    """``voters`` voter tokens, one per line (each votes once on each tool)."""
    with tempfile.NamedTemporaryFile("w", prefix="verdicts-bench-voters-", suffix=".txt") as file:
        file.write("\n".join(issue_token(SECRET)[0] for _ in range(voters)) + "\n")
        file.flush()
        yield Path(file.name)


def pause_ms(offered_per_s: float, answer_ms: float) -> int:
    """Each latency-run connection's pause between ballots, so that together they offer
    ``offered_per_s``; what an answer takes comes on top of the pause."""
    return max(1, round(LATENCY_CONNECTIONS * 1000 / offered_per_s - answer_ms / 4))


class Ballots:
    """Runs of wrk over one stack, numbering ballots on so that no (voter, tool) pair repeats."""

    def __init__(self, stack: Stack, tokens: Path) -> None:
        self.stack = stack
        self.tokens = tokens
        self.cast = 0
        assert stack.votes.pid is not None
        self.service = Running(stack.url, stack.votes.pid)

    async def counted_at_least(self, total: int, within: float) -> None:
        deadline = time.monotonic() + within
        while await total_counted(self.stack) < total and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # PostgreSQL has no event to wait on

    async def run(
        self, *, limit: int = 0, duration_s: float = 600, connections: int = CONCURRENCY, delay_ms: int = 0
    ) -> dict[str, Any]:
        """One wrk run; the clock stops when PostgreSQL's tallies hold every ballot accepted."""
        before = await total_counted(self.stack)
        cpu_before = self.service.cpu_s()
        started = time.perf_counter()
        result: WrkResult = await asyncio.to_thread(
            wrk,
            self.stack.url,
            "votes",
            self.tokens,
            ",".join(TOOLS),
            limit,
            delay_ms,
            1,
            self.cast,
            connections=connections,
            duration_s=duration_s,
        )
        self.cast += result.sent
        cpu_s = self.service.cpu_s() - cpu_before
        await self.counted_at_least(before + result.ok, within=600)
        seconds = time.perf_counter() - started
        await asyncio.sleep(1)  # ballots in flight when wrk stopped may still land
        counted = await total_counted(self.stack) - before
        return {
            "wrk": result,
            "accepted": result.ok,
            "per_s": result.ok / seconds,
            "http_per_s": result.per_s,
            "cpu_s_per_1000": cpu_s / max(result.requests, 1) * 1000,
            # Exact: every 202 counted, and nothing counted that was not sent (an answer wrk cut
            # off at its stop may be counted without a 202 seen).
            "exact": result.ok <= counted <= result.sent,
            "counted": counted,
        }


async def run(
    votes: int, memory_votes: int, chaos_votes: int, duration_s: float = 15, *, profile: bool = False
) -> dict[str, Any]:
    """``votes`` raw publishes for the baseline; wrk runs of ``duration_s``; RSS after
    ``memory_votes``; a crash run of ``chaos_votes`` (none when 0); py-spy of the votes process
    during the throughput run when ``profile``."""
    results: dict[str, Any] = {}
    with running_stack(Path(tempfile.mkdtemp(prefix="verdicts-bench-votes-"))) as stack:
        assert stack.votes.pid is not None
        await announce_tools(stack)
        await settled(stack, {}, within=0)
        pin_to_service_cpus(stack.votes.pid)
        results["raw_per_s"] = await raw_publish_rate(stack.nats.url, votes)
        total = max(memory_votes, FIRST_READING) + 200_000
        with tokens_file(-(-total // len(TOOLS))) as tokens:
            ballots = Ballots(stack, tokens)
            await ballots.run(limit=FIRST_READING)
            results["rss_first_mb"] = rss_mb(stack)
            with profiled(stack.votes.pid, "votes", enabled=profile):
                results["http"] = await ballots.run(duration_s=duration_s)
            # Half the raw rate (the goal's load) is beyond what one votes process answers on this
            # machine, so that latency is mostly queueing: the latency at half the rate the process
            # did answer is measured too (no goal; what a reader sees below saturation).
            for key, offered in (
                ("latency", results["raw_per_s"] / 2),
                ("latency_half_served", results["http"]["per_s"] / 2),
            ):
                results[key] = await ballots.run(
                    duration_s=duration_s,
                    connections=LATENCY_CONNECTIONS,
                    delay_ms=pause_ms(offered, results["http"]["wrk"].p50_ms),
                )
                results[key]["offered_per_s"] = offered
            left = memory_votes - await total_counted(stack)
            if left > 0:
                await ballots.run(limit=left)
            results["memory_votes"] = await total_counted(stack)
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


def rows(r: dict[str, Any]) -> list[Row]:
    http, latency, served = r["http"], r["latency"], r["latency_half_served"]
    found = [
        Row(
            "votes: accepted/s end to end (HTTP -> JetStream -> tally)",
            http["per_s"],
            "votes/s",
            Goal.at_least(0.5),
            r["raw_per_s"],
            "raw JetStream publishes/s",
            http["cpu_s_per_1000"],
        ),
        Row(
            f"votes: p99 accept latency at {latency['wrk'].per_s:,.0f}/s"
            f" (half raw: {latency['offered_per_s']:,.0f}/s offered)",
            latency["wrk"].p99_ms,
            "ms",
            Goal.at_most(25),
            cpu_s_per_1000=latency["cpu_s_per_1000"],
        ),
        Row(
            f"votes: p99 accept latency at {served['wrk'].per_s:,.0f}/s"
            f" (half of the {http['per_s']:,.0f}/s answered end to end)",
            served["wrk"].p99_ms,
            "ms",
            cpu_s_per_1000=served["cpu_s_per_1000"],
        ),
        Row(
            f"votes: process RSS after {r['memory_votes']:,} votes",
            r["rss_after_mb"],
            "MiB",
            Goal.at_most(1.2),
            r["rss_first_mb"],
            f"MiB after {FIRST_READING:,}",
        ),
    ]
    return found


def report(r: dict[str, Any]) -> str:
    http, latency, served = r["http"], r["latency"], r["latency_half_served"]
    lines = [
        "votes:",
        f"  raw nats-py JetStream publish: {r['raw_per_s']:,.0f} msg/s ({CONCURRENCY} in flight)",
        f"  accepted end to end: {http['per_s']:,.0f} votes/s ({http['accepted']:,} votes, HTTP answers"
        f" {http['http_per_s']:,.0f}/s, p50 {http['wrk'].p50_ms:.1f} ms, p99 {http['wrk'].p99_ms:.1f} ms);"
        f" counted exactly: {http['exact']}",
        *(
            f"  at {run['wrk'].per_s:,.0f}/s ({run['offered_per_s']:,.0f}/s offered):"
            f" p50 {run['wrk'].p50_ms:.1f} ms,"
            f" p90 {run['wrk'].p90_ms:.1f} ms, p99 {run['wrk'].p99_ms:.1f} ms; statuses"
            f" {run['wrk'].statuses}; counted exactly: {run['exact']}"
            for run in (latency, served)
        ),
        f"  votes process RSS {r['rss_first_mb']:.0f} MiB after {FIRST_READING:,} votes,"
        f" {r['rss_after_mb']:.0f} MiB after {r['memory_votes']:,}",
    ]
    if "chaos" in r:
        c = r["chaos"]
        lines.append(
            f"  crash run: {c['accepted']:,} accepted votes, {c['kills']} SIGKILLs, "
            f"{c['retries']:,} client retries, {c['seconds']:.0f} s: counted exactly once: {c['exact']}"
        )
    return "\n".join(lines)
