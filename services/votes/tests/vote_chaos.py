"""Votes under crashes: cast ballots over HTTP while nats-server, PostgreSQL and the votes service
are each killed with SIGKILL and restarted at random moments; then compare what was counted with
every ballot that got a 2xx. Used by the fault test (small) and the benchmark (100,000 votes)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import nats

from verdicts.contracts import Pricing, Tool, ToolAnnounced
from verdicts.platform.embedded.nats import EmbeddedNats
from verdicts.platform.embedded.postgres import EmbeddedPostgres
from verdicts.platform.embedded.process import EmbeddedError, ManagedProcess, free_port
from verdicts.platform.streams import provision_streams
from verdicts.votes.domain.tokens import issue_token

SECRET = "chaos-secret-for-voter-tokens-0123456789abcdef"
TOOLS = ("alpha-tool", "beta-tool", "gamma-tool")


@dataclass
class Stack:
    """nats-server, PostgreSQL and `verdicts run votes`, each its own process, each killable."""

    folder: Path
    nats: EmbeddedNats = field(init=False)
    postgres: EmbeddedPostgres = field(init=False)
    votes: ManagedProcess = field(init=False)
    http_port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.nats = EmbeddedNats(self.folder / "nats", port=free_port())
        self.postgres = EmbeddedPostgres(self.folder / "postgres", port=free_port(), durable=True)
        env = os.environ | {
            "VERDICTS_NATS_URL": "",  # set in start()
            "VERDICTS_PORT": str(self.http_port),
            "VERDICTS_HOME": str(self.folder / "home"),
            "VERDICTS_LOG_JSON": "false",
            "VERDICTS_LOG_LEVEL": "WARNING",
            "VERDICTS_VOTES_TOKEN_SECRET": SECRET,
            "VERDICTS_VOTES_ADDRESS_RATE_PER_S": "1000000",
            "VERDICTS_VOTES_ADDRESS_BURST": "1000000",
            "VERDICTS_VOTES_VOTER_BURST": "1000",
        }
        self.votes = ManagedProcess(
            "votes",
            [sys.executable, "-m", "verdicts.cli.main", "run", "votes"],
            self.folder / "votes.log",
            env=env,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> None:
        self.nats.start()
        self.postgres.start()
        assert self.votes.env is not None
        self.votes.env |= {"VERDICTS_NATS_URL": self.nats.url, "DATABASE_URL": self.postgres.url()}
        self.start_votes()

    def start_votes(self) -> None:
        self.votes.start()
        self.votes.wait_ready(lambda: httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200, 60)

    def restart(self, name: str) -> None:
        """Start a killed component again (PostgreSQL may need a moment for its old backends to go)."""
        deadline = time.monotonic() + 60
        while True:
            try:
                {"nats": self.nats.start, "postgres": self.postgres.start, "votes": self.start_votes}[name]()
                return
            except EmbeddedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def kill(self, name: str) -> None:
        {"nats": self.nats.kill, "postgres": self.postgres.kill, "votes": self.votes.kill}[name]()

    def stop(self) -> None:
        self.votes.stop()
        self.postgres.stop()
        self.nats.stop()


@contextlib.contextmanager
def running_stack(folder: Path) -> Iterator[Stack]:
    stack = Stack(folder)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


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


@dataclass
class Outcome:
    expected: dict[str, Counter[str]]  # tool -> choice -> count, from the ballots that got a 2xx
    accepted: int
    refused: int
    retries: int
    latencies_ms: list[float]
    kills: list[str]
    seconds: float


async def cast_all(
    stack: Stack, voters: int, ballots_per_voter: int, concurrency: int, rounds: int, seed: int = 7
) -> Outcome:
    rng = random.Random(seed)
    tokens = [issue_token(SECRET)[0] for _ in range(voters)]
    plans = [
        [(rng.choice(TOOLS), rng.choice(("ship", "skip"))) for _ in range(ballots_per_voter)]
        for _ in range(voters)
    ]
    final: dict[tuple[int, str], str] = {}
    latencies: list[float] = []
    counts = Counter[str]()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for v in range(voters):
        queue.put_nowait(v)
    kills: list[str] = []

    async def post(client: httpx.AsyncClient, body: dict[str, str]) -> int:
        while True:  # retried with the same nonce until an answer: a retry is the same ballot
            started = time.perf_counter()
            try:
                response = await client.post("/v1/votes", json=body)
            except httpx.HTTPError:
                counts["retries"] += 1
                await asyncio.sleep(0.2)
                continue
            if response.status_code >= 500 or response.status_code == 429:
                counts["retries"] += 1
                await asyncio.sleep(0.2)
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            return response.status_code

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
                unknown = {
                    "tool": "not-a-tool",
                    "choice": "ship",
                    "voter_token": tokens[v],
                    "nonce": f"{v}-x",
                }
                if v % 10 == 0 and await post(client, unknown) == 404:
                    counts["refused"] += 1

    async def chaos_monkey() -> None:
        """Each of the three killed `rounds` times, in a shuffled order, at random moments."""
        victims = [v for _ in range(rounds) for v in rng.sample(("nats", "postgres", "votes"), 3)]
        for victim in victims:
            await asyncio.sleep(rng.uniform(0.5, 2.5))
            kills.append(victim)
            await asyncio.to_thread(stack.kill, victim)
            await asyncio.sleep(rng.uniform(0.2, 1.5))
            await asyncio.to_thread(stack.restart, victim)

    started = time.perf_counter()
    await asyncio.gather(chaos_monkey(), *(worker() for _ in range(concurrency)))
    expected: dict[str, Counter[str]] = {t: Counter() for t in TOOLS}
    for (_, tool), choice in final.items():
        expected[tool][choice] += 1
    return Outcome(
        expected,
        counts["accepted"],
        counts["refused"],
        counts["retries"],
        latencies,
        kills,
        time.perf_counter() - started,
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
