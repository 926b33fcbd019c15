"""Votes under crashes: cast ballots over HTTP while nats-server, PostgreSQL and the votes service
are each killed with SIGKILL and restarted at random moments; then compare what was counted with
every ballot that got a 2xx. Ship/skip ballots and, when asked, head-to-head ballots ("Which would
you ship with?", the latest per voter per pair counts). Used by the fault test (small) and the
benchmark (100,000 votes)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import nats

from verdicts.contracts import Pricing, Tool, ToolAnnounced
from verdicts.platform.embedded.process import ManagedProcess
from verdicts.platform.streams import provision_streams
from verdicts.platform.testing.chaos import ChaosStack, Monkey, running, send_until_answered
from verdicts.votes.domain.tokens import issue_token

SECRET = "chaos-secret-for-voter-tokens-0123456789abcdef"
TOOLS = ("alpha-tool", "beta-tool", "gamma-tool")


VOTES_ENV = {
    "VERDICTS_VOTES_TOKEN_SECRET": SECRET,
    "VERDICTS_VOTES_ADDRESS_RATE_PER_S": "1000000",
    "VERDICTS_VOTES_ADDRESS_BURST": "1000000",
    "VERDICTS_VOTES_VOTER_BURST": "1000",
}
"""Many voters from one address, each casting fast: the limits out of the way."""


class Stack(ChaosStack):
    """nats-server, PostgreSQL and `verdicts run votes`, each its own process, each killable."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder, services=("votes",), env=VOTES_ENV)

    @property
    def url(self) -> str:
        return self.base_url("votes")

    @property
    def votes(self) -> ManagedProcess:
        return self.processes["votes"]


@contextlib.contextmanager
def running_stack(folder: Path) -> Iterator[Stack]:
    with running(Stack(folder)) as stack:
        yield stack


async def announce_tools(stack: Stack) -> None:
    """ingest's announcements, as votes hears them on the bus."""
    await provision_streams(stack.nats.url, duplicate_window_s=120)
    nc = await nats.connect(stack.nats.url)
    try:
        js = nc.jetstream()
        for slug in TOOLS:
            tool = Tool(
                slug=slug,
                name=slug.replace("-", " ").title(),
                vendor="Chaos",
                category="Developer Tools",
                tagline="A tool to vote on",
                description="A tool that exists so that votes can be cast on it.",
                pricing=Pricing(model="free", entry="Free"),
                homepage=f"https://{slug}.example",
            )
            event = ToolAnnounced.create(tool=tool, version=1, content_hash=slug)
            await js.publish(
                event.SUBJECT, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.event_id}
            )
    finally:
        await nc.close()


PAIRS = tuple((a, b) for a in TOOLS for b in TOOLS if a < b)


@dataclass
class Outcome:
    expected: dict[str, Counter[str]]  # tool -> choice -> count, from the ballots that got a 2xx
    accepted: int
    refused: int
    retries: int
    latencies_ms: list[float]
    kills: list[str]
    seconds: float
    expected_head_to_head: Counter[tuple[str, str, str]] | None = None  # (a, b, winner) -> voters


async def cast_all(
    stack: Stack,
    voters: int,
    ballots_per_voter: int,
    concurrency: int,
    rounds: int,
    seed: int = 7,
    head_to_head_per_voter: int = 0,
) -> Outcome:
    """Each voter casts ``ballots_per_voter`` ship/skip ballots, then ``head_to_head_per_voter``
    head-to-head ballots on random pairs (a pair drawn twice is a changed vote), while the monkey
    kills."""
    rng = random.Random(seed)
    tokens = [issue_token(SECRET)[0] for _ in range(voters)]
    plans = [
        [(rng.choice(TOOLS), rng.choice(("ship", "skip"))) for _ in range(ballots_per_voter)]
        for _ in range(voters)
    ]
    duels = [
        [(rng.choice(PAIRS), rng.choice(("a", "b", "tie"))) for _ in range(head_to_head_per_voter)]
        for _ in range(voters)
    ]
    final: dict[tuple[int, str], str] = {}
    final_duels: dict[tuple[int, tuple[str, str]], str] = {}
    latencies: list[float] = []
    counts = Counter[str]()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for v in range(voters):
        queue.put_nowait(v)

    async def post(client: httpx.AsyncClient, body: dict[str, str], path: str = "/v1/votes") -> int:
        # retried with the same nonce until an answer: a retry is the same ballot
        return (await send_until_answered(client, path, body, counts, latencies)).status_code

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=stack.url, timeout=10) as client:
            while not queue.empty():
                v = queue.get_nowait()
                for n, (tool, choice) in enumerate(plans[v]):
                    body = {"tool": tool, "choice": choice, "voter_token": tokens[v], "nonce": f"{v}-{n}"}
                    status = await post(client, body)
                    if 200 <= status < 300:
                        final[(v, tool)] = choice
                        counts["accepted"] += 1
                    else:
                        counts["refused"] += 1
                for n, ((a, b), winner) in enumerate(duels[v]):
                    body = {"winner": winner, "voter_token": tokens[v], "nonce": f"{v}-h{n}"}
                    status = await post(client, body, f"/v1/comparisons/{a}-vs-{b}/votes")
                    if 200 <= status < 300:
                        final_duels[(v, (a, b))] = winner
                        counts["accepted"] += 1
                    else:
                        counts["refused"] += 1
                unknown = {
                    "tool": "not-a-tool",
                    "choice": "ship",
                    "voter_token": tokens[v],
                    "nonce": f"{v}-x",
                }
                if v % 10 == 0 and await post(client, unknown) == 404:
                    counts["refused"] += 1

    monkey = Monkey(stack, rng)  # each of the three killed `rounds` times, shuffled, at random moments
    started = time.perf_counter()
    await asyncio.gather(monkey.run(stack.components, rounds), *(worker() for _ in range(concurrency)))
    expected: dict[str, Counter[str]] = {t: Counter() for t in TOOLS}
    for (_, tool), choice in final.items():
        expected[tool][choice] += 1
    expected_duels = Counter((a, b, winner) for (_, (a, b)), winner in final_duels.items())
    return Outcome(
        expected,
        counts["accepted"],
        counts["refused"],
        counts["retries"],
        latencies,
        [kill.what for kill in monkey.kills],
        time.perf_counter() - started,
        expected_duels if head_to_head_per_voter else None,
    )


async def counted(stack: Stack) -> dict[str, Counter[str]]:
    conn = await asyncpg.connect(stack.postgres.url())
    try:
        rows = await conn.fetch("SELECT tool, ship, skip FROM votes.tallies")
        ballots = await conn.fetch("SELECT tool, choice, count(*) FROM votes.ballots GROUP BY tool, choice")
    finally:
        await conn.close()
    tallies = {r["tool"]: Counter({"ship": r["ship"], "skip": r["skip"]}) for r in rows}
    from_ballots: dict[str, Counter[str]] = {}
    for r in ballots:
        from_ballots.setdefault(r["tool"], Counter())[r["choice"]] = r["count"]
    assert {t: +c for t, c in tallies.items()} == {t: +c for t, c in from_ballots.items()}, "tallies drifted"
    return {t: +tallies.get(t, Counter()) for t in TOOLS}


async def settled(stack: Stack, expected: dict[str, Counter[str]], within: float) -> dict[str, Counter[str]]:
    """What PostgreSQL counts once the ballot writer caught up (or the last reading at the deadline)."""
    deadline = time.monotonic() + within
    want = {t: +c for t, c in expected.items()}
    while True:
        try:
            got = await counted(stack)
        except (OSError, asyncpg.PostgresError):
            got = {}
        if got == want or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.5)


async def head_to_head_counted(stack: Stack) -> Counter[tuple[str, str, str]]:
    """The head-to-head ballots PostgreSQL keeps: (a, b, winner) -> how many voters."""
    conn = await asyncpg.connect(stack.postgres.url())
    try:
        rows = await conn.fetch("SELECT a, b, winner, count(*) FROM votes.head_to_head GROUP BY a, b, winner")
    finally:
        await conn.close()
    return Counter({(r["a"], r["b"], r["winner"]): r["count"] for r in rows})


async def head_to_head_settled(
    stack: Stack, expected: Counter[tuple[str, str, str]], within: float
) -> Counter[tuple[str, str, str]]:
    """The head-to-head ballots kept once the writer caught up (or the last reading at the deadline)."""
    deadline = time.monotonic() + within
    while True:
        try:
            got = await head_to_head_counted(stack)
        except (OSError, asyncpg.PostgresError):
            got = Counter()
        if got == expected or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.5)
