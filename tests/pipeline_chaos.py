"""The whole pipeline under crashes: announce tools through ingest, cast votes, update a few tools,
while nats-server, PostgreSQL, the model server and each service process are killed with SIGKILL
and started again at random moments (seeded); then check, from the database, the pages and the bus:

- panels: every tool version has exactly one panel, complete or explicitly partial;
- tallies: every tally equals the ballots that got a 2xx (each voter's last choice per tool);
- pages: every kept comparison page shows the panel and community numbers of the database;
- once: no event had its effect twice (tool versions, panels, reviews, ballots, render's copies);
- dead letters: every one is explained (the malformed announcements sent on purpose, and no other).

Used by ``tests/test_pipeline_chaos.py`` (small) and ``python -m bench chaos`` (50 tools, 20,000 votes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
from nats.js.errors import NotFoundError

from verdicts.contracts.subjects import INGEST_STREAM
from verdicts.platform.access.issuing import grant
from verdicts.platform.access.keys import Scope
from verdicts.platform.deadletters import list_dead_letters
from verdicts.platform.testing.chaos import ChaosStack, Kill, Monkey, send_until_answered
from verdicts.votes.domain.tokens import issue_token

SECRET = "pipeline-chaos-secret-for-voter-tokens-0123456789"
SERVICES = ("ingest", "review-panel", "votes", "render", "inference")
CATEGORIES = ("Developer Tools", "Coding Agents", "Writing", "Productivity", "Data & Analytics")
ADJECTIVES = ("Brisk", "Quiet", "Amber", "Nimble", "Lucid", "Steady", "Bright", "Clever", "Swift", "Bold")
NOUNS = ("Lantern", "Compass", "Harbor", "Quill", "Anvil", "Beacon", "Meadow", "Prism", "Summit", "Otter")
POISON_SUBJECT = "ingest.tool.announced"
PANEL_FIELDS = ("version", "run", "ship", "skip", "failed")

CHAOS_ENV = {
    "VERDICTS_VOTES_TOKEN_SECRET": SECRET,
    "VERDICTS_VOTES_ADDRESS_RATE_PER_S": "1000000",
    "VERDICTS_VOTES_ADDRESS_BURST": "1000000",
    "VERDICTS_VOTES_VOTER_BURST": "1000",
    "VERDICTS_PUBLIC_RATE_PER_S": "1000000",
    "VERDICTS_PUBLIC_BURST": "1000000",
    # A killed consumer's unacknowledged messages come back within seconds, not half a minute.
    "VERDICTS_ACK_WAIT_S": "10",
    "VERDICTS_OUTBOX_MAX_BACKOFF_S": "2",
    "VERDICTS_REVIEW_PANEL_RETRY_MAX_DELAY_S": "4",
    # SmolLM2's reviews run to 150-250 tokens: a shorter cap keeps a slow answer inside the deadline.
    "VERDICTS_REVIEW_PANEL_MAX_TOKENS": "320",
}
"""The limits out of the way of one client casting for many voters, and the waits after a crash
shortened so that a run takes minutes; delivery and idempotency are what production runs."""


@dataclass(frozen=True)
class Sizes:
    tools: int = 50
    votes: int = 20_000
    updates: int = 5
    ballots_per_voter: int = 10
    concurrency: int = 32
    votes_per_s: float | None = None
    """Cast no faster than this (None: as fast as answered), so that voting spans the kills."""
    rounds: int = 2
    """Rounds of kills at least (each kills every part once, in a shuffled order); the monkey goes on
    while announcements and votes are still being sent, up to ``max_rounds``."""
    max_rounds: int = 6
    poison: int = 2
    review_timeout_s: float = 60
    """How long a review waits for the model (VERDICTS_REVIEW_PANEL_INFERENCE_TIMEOUT_S; 180 s by
    default). A job a killed review-panel held comes back sooner: its heartbeat stops."""
    review_attempts: int = 20
    """Tries of a review job before it is stored as failed (the panel partial, and says so): enough
    to outlast the vote storm, when the model, sharing the cores, answers too slowly."""
    budget_s: float = 2400
    """Seconds from the start to the last reading of the checks (they are read until all pass)."""
    seed: int = 14


@dataclass
class Check:
    name: str
    ok: bool
    figures: dict[str, Any]
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        figures = ", ".join(f"{k}={v}" for k, v in self.figures.items())
        shown = "; ".join(self.problems[:5]) + (" ..." if len(self.problems) > 5 else "")
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {figures}" + (f" -- {shown}" if shown else "")


@dataclass
class Report:
    sizes: Sizes
    kills: list[Kill]
    checks: list[Check]
    counts: dict[str, int]
    workload_s: float
    settle_s: float
    started_s: float

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def lines(self) -> list[str]:
        s = self.sizes
        return [
            f"pipeline chaos: {s.tools} tools ({s.updates} updated), {s.votes} votes, seed {s.seed}",
            f"kills: {len(self.kills)} ({dict(Counter(k.what for k in self.kills))})",
            *(
                f"  t={k.at_s:7.2f}s  SIGKILL {k.what:<12} back after {k.down_s:.2f}s"
                for k in sorted(self.kills, key=lambda k: k.at_s)
            ),
            "workload: " + ", ".join(f"{k}={v}" for k, v in self.counts.items()),
            f"stack started in {self.started_s:.1f}s, workload {self.workload_s:.1f}s,"
            f" settled in {self.settle_s:.1f}s",
            *(c.line() for c in self.checks),
            "all checks passed" if self.ok else "SOME CHECKS FAILED",
        ]


def make_tools(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """``count`` distinct tools, about ten to a category (each has rivals, so comparisons are kept)."""
    names = [f"{a} {n}" for a in ADJECTIVES for n in NOUNS]
    rng.shuffle(names)
    categories = CATEGORIES[: max(1, min(len(CATEGORIES), count // 10))]
    tools = []
    for i in range(count):
        name = names[i % len(names)] + (f" {i // len(names) + 1}" if i >= len(names) else "")
        category = categories[i % len(categories)]
        vendor = f"{name.split()[1]} Labs"
        tools.append(
            {
                "name": name,
                "vendor": vendor,
                "category": category,
                "tagline": f"A {category.lower()} product for small teams",
                "description": f"{name} is a {category.lower()} product made by {vendor}. It runs in the "
                "browser and in the terminal, keeps a history of every change, and offers a free tier "
                "with paid plans for larger teams.",
                "pricing": {"model": "freemium", "entry": "Free, then $12 a month"},
                "homepage": f"https://{name.lower().replace(' ', '-')}.example",
            }
        )
    return tools


class Workload:
    """What the clients send, and what they were told was accepted."""

    def __init__(self, stack: ChaosStack, sizes: Sizes, rng: random.Random, headers: dict[str, str]) -> None:
        self.stack = stack
        self.sizes = sizes
        self.rng = rng
        self.headers = headers
        self.counts: Counter[str] = Counter()
        self.versions: dict[str, int] = {}  # slug -> the version ingest answered last
        self.final: dict[tuple[int, str], str] = {}  # (voter, slug) -> last accepted choice
        self.poison_ids: list[str] = []

    async def announce(self, tools: list[dict[str, Any]]) -> None:
        async with httpx.AsyncClient(
            base_url=self.stack.base_url("ingest"), timeout=10, headers=self.headers
        ) as client:
            semaphore = asyncio.Semaphore(4)

            async def one(tool: dict[str, Any]) -> None:
                async with semaphore:
                    response = await send_until_answered(client, "/v1/tools", tool, self.counts)
                if response.status_code >= 300:
                    raise AssertionError(f"ingest refused {tool['name']}: {response.text}")
                body = response.json()
                self.versions[body["slug"]] = max(self.versions.get(body["slug"], 0), body["version"])
                self.counts[f"tools {body['status']}"] += 1

            await asyncio.gather(*(one(t) for t in tools))

    async def send_poison(self) -> None:
        """Malformed announcements on the bus: each consumer of the subject must park them."""
        for n in range(self.sizes.poison):
            msg_id = f"chaos-poison-{n}"
            while True:
                with contextlib.suppress(Exception):
                    nc = await nats.connect(self.stack.nats.url, max_reconnect_attempts=0, connect_timeout=2)
                    try:
                        await nc.jetstream().publish(
                            POISON_SUBJECT, b'{"not": "an announcement"}', headers={"Nats-Msg-Id": msg_id}
                        )
                        break
                    finally:
                        await nc.close()
                await asyncio.sleep(0.5)
            self.poison_ids.append(msg_id)

    async def votes_know(self, slugs: list[str]) -> None:
        """Ballots for a tool votes has not heard of are refused (404): wait until it knows them all."""
        async with httpx.AsyncClient(base_url=self.stack.base_url("votes"), timeout=5) as client:
            for slug in slugs:
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(f"/v1/tools/{slug}/votes")).status_code == 200:
                            break
                    await asyncio.sleep(0.3)

    async def cast(self, slugs: list[str]) -> None:
        s = self.sizes
        voters = max(1, s.votes // s.ballots_per_voter)
        tokens = [issue_token(SECRET)[0] for _ in range(voters)]
        plans = [
            [(self.rng.choice(slugs), self.rng.choice(("ship", "skip"))) for _ in range(s.ballots_per_voter)]
            for _ in range(voters)
        ]
        queue: asyncio.Queue[int] = asyncio.Queue()
        for v in range(voters):
            queue.put_nowait(v)
        started, sent = time.monotonic(), 0

        async def paced() -> None:
            nonlocal sent
            sent += 1
            if s.votes_per_s:
                await asyncio.sleep(max(0.0, started + sent / s.votes_per_s - time.monotonic()))

        async def worker() -> None:
            async with httpx.AsyncClient(base_url=self.stack.base_url("votes"), timeout=10) as client:
                while not queue.empty():
                    v = queue.get_nowait()
                    for n, (slug, choice) in enumerate(plans[v]):
                        body = {"tool": slug, "choice": choice, "voter_token": tokens[v], "nonce": f"{v}-{n}"}
                        await paced()
                        response = await send_until_answered(client, "/v1/votes", body, self.counts)
                        if 200 <= response.status_code < 300:
                            self.final[(v, slug)] = choice
                            self.counts["ballots accepted"] += 1
                        else:
                            self.counts[f"ballots refused {response.status_code}"] += 1

        await asyncio.gather(*(worker() for _ in range(s.concurrency)))

    async def update(self, tools: list[dict[str, Any]]) -> None:
        """A new version of a few tools: each needs a panel of its own."""
        changed = [t | {"description": t["description"] + " It now works offline too."} for t in tools]
        await self.announce(changed)

    def expected_tallies(self) -> dict[str, Counter[str]]:
        expected: dict[str, Counter[str]] = {}
        for (_, slug), choice in self.final.items():
            expected.setdefault(slug, Counter())[choice] += 1
        return expected


async def with_database(url: str, read: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Any:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        return await read(conn)
    finally:
        await conn.close()


async def check_panels(conn: asyncpg.Connection, versions: dict[str, int]) -> Check:
    panels = await conn.fetch(
        "SELECT p.slug, p.version, p.run, p.status, p.ship, p.skip, p.failed, cardinality(p.personas) AS n,"
        " (SELECT count(*) FROM review_panel.reviews r WHERE (r.slug, r.version, r.run) ="
        "  (p.slug, p.version, p.run)) AS reviews FROM review_panel.panels p"
    )
    by_version: dict[tuple[str, int], list[asyncpg.Record]] = {}
    for p in panels:
        by_version.setdefault((p["slug"], p["version"]), []).append(p)
    wanted = {(slug, v) for slug, last in versions.items() for v in range(1, last + 1)}
    stored = {
        (r["slug"], r["version"]) for r in await conn.fetch("SELECT slug, version FROM ingest.tool_versions")
    }
    problems = [f"{s} v{v}: no panel" for s, v in sorted(wanted - by_version.keys())]
    problems += [f"ingest holds {s} v{v} the clients were not answered" for s, v in sorted(stored - wanted)]
    problems += [f"{s} v{v}: ingest lacks it" for s, v in sorted(wanted - stored)]
    status: Counter[str] = Counter()
    for (slug, version), runs in sorted(by_version.items()):
        if len(runs) != 1:
            problems.append(f"{slug} v{version}: {len(runs)} panels")
        for p in runs:
            status[p["status"]] += 1
            if p["status"] == "running":
                problems.append(f"{slug} v{version}: still running ({p['reviews']}/{p['n']} reviews)")
                continue
            decided = p["ship"] + p["skip"] + p["failed"]
            if decided != p["n"] or p["reviews"] != p["n"]:
                problems.append(f"{slug} v{version}: {decided} decided, {p['reviews']} reviews of {p['n']}")
            if (p["status"] == "partial") != (p["failed"] > 0):
                problems.append(f"{slug} v{version}: {p['status']} with {p['failed']} failed")
    failed = await conn.fetchval("SELECT count(*) FROM review_panel.reviews WHERE status = 'failed'")
    figures = {"versions": len(wanted), **dict(status), "reviews failed": failed}
    return Check("panels: one complete or partial panel per tool version", not problems, figures, problems)


async def check_tallies(conn: asyncpg.Connection, expected: dict[str, Counter[str]], accepted: int) -> Check:
    tallies = {r["tool"]: (r["ship"], r["skip"]) for r in await conn.fetch("SELECT * FROM votes.tallies")}
    ballots: dict[str, Counter[str]] = {}
    for r in await conn.fetch("SELECT tool, choice, count(*) AS n FROM votes.ballots GROUP BY tool, choice"):
        ballots.setdefault(r["tool"], Counter())[r["choice"]] = r["n"]
    problems = []
    for slug in sorted(set(expected) | set(tallies) | set(ballots)):
        want = (expected.get(slug, Counter())["ship"], expected.get(slug, Counter())["skip"])
        got = tallies.get(slug, (0, 0))
        rows = (ballots.get(slug, Counter())["ship"], ballots.get(slug, Counter())["skip"])
        if got != want or rows != want:
            problems.append(f"{slug}: tally {got}, ballot rows {rows}, accepted {want}")
    counted = sum(a + b for a, b in tallies.values())
    figures = {"ballots accepted": accepted, "final choices": sum(sum(c.values()) for c in expected.values())}
    figures |= {"counted": counted, "tools": len(tallies)}
    return Check("tallies: every tally equals the accepted ballots", not problems, figures, problems)


def panel_numbers(row: asyncpg.Record | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {f: row[f] for f in PANEL_FIELDS} | {"partial": row["status"] == "partial"}


async def check_pages(conn: asyncpg.Connection, render_url: str) -> Check:
    """Every kept comparison's published index.json against review-panel's and votes' own tables."""
    pairs = [(r["a"], r["b"]) for r in await conn.fetch("SELECT a, b FROM render.pairs ORDER BY a, b")]
    latest = {
        r["slug"]: r
        for r in await conn.fetch(
            "SELECT DISTINCT ON (slug) * FROM review_panel.panels WHERE status <> 'running'"
            " ORDER BY slug, version DESC, run DESC"
        )
    }
    current = {r["slug"]: r["current_version"] for r in await conn.fetch("SELECT * FROM ingest.tools")}
    tallies = {r["tool"]: (r["ship"], r["skip"]) for r in await conn.fetch("SELECT * FROM votes.tallies")}
    problems = []
    async with httpx.AsyncClient(base_url=render_url, timeout=10) as client:
        for a, b in pairs:
            response = await client.get(f"/compare/{a}-vs-{b}/index.json")
            if response.status_code != 200:
                problems.append(f"{a}-vs-{b}: {response.status_code}")
                continue
            page = response.json()
            for side in (page["a"], page["b"]):
                slug = side["tool"]["slug"]
                shown = side["panel"] and {k: side["panel"][k] for k in (*PANEL_FIELDS, "partial")}
                if shown != panel_numbers(latest.get(slug)):
                    problems.append(
                        f"{a}-vs-{b}: {slug} panel {shown}, database {panel_numbers(latest.get(slug))}"
                    )
                if side["version"] != current.get(slug):
                    problems.append(f"{a}-vs-{b}: {slug} v{side['version']}, ingest v{current.get(slug)}")
                community = side["community"]
                seen = None if community is None else (community["ship"], community["skip"])
                if seen != tallies.get(slug):
                    problems.append(f"{a}-vs-{b}: {slug} community {seen}, database {tallies.get(slug)}")
    figures = {"pages": len(pairs), "mismatches": len(problems)}
    return Check(
        "pages: every comparison page shows the database's numbers",
        bool(pairs) and not problems,
        figures,
        problems,
    )


async def check_once(conn: asyncpg.Connection, versions: dict[str, int], nats_url: str) -> Check:
    """No event had its effect twice: each copy holds each fact once and agrees with its source."""
    problems = []
    wanted = sum(versions.values())
    for table in ("ingest.tool_versions", "review_panel.tool_versions"):
        n = await conn.fetchval(f"SELECT count(*) FROM {table}")
        if n != wanted:
            problems.append(f"{table}: {n} rows for {wanted} versions")
    for table in ("ingest.tools", "votes.tools", "render.tools"):
        n = await conn.fetchval(f"SELECT count(*) FROM {table}")
        if n != len(versions):
            problems.append(f"{table}: {n} rows for {len(versions)} tools")
    pairs = {
        "reviews": (
            "SELECT slug, version, run, persona FROM review_panel.reviews",
            "SELECT slug, version, run, persona FROM render.reviews",
        ),
        "panels": (
            "SELECT slug, version, run, ship, skip, failed FROM review_panel.panels"
            " WHERE status <> 'running'",
            "SELECT slug, version, run, ship, skip, failed FROM render.panels",
        ),
        "tallies": (
            "SELECT tool, ship, skip FROM votes.tallies",
            "SELECT slug, ship, skip FROM render.tallies",
        ),
    }
    figures: dict[str, Any] = {"tool versions": wanted}
    for what, (source, copy) in pairs.items():
        have = Counter(tuple(r) for r in await conn.fetch(source))
        kept = Counter(tuple(r) for r in await conn.fetch(copy))
        figures[what] = sum(have.values())
        if have != kept:
            problems.append(f"render's {what} differ: {len(kept - have)} extra, {len(have - kept)} missing")
    ballots = await conn.fetchval("SELECT count(*) FROM votes.ballots")
    tallied = await conn.fetchval("SELECT coalesce(sum(ship + skip), 0) FROM votes.tallies")
    if ballots != tallied:
        problems.append(f"votes: {ballots} ballot rows, {tallied} tallied")
    figures["ballot rows"] = ballots
    figures["announcements on the bus"], repeats = await bus_repeats(nats_url)
    figures["republished (deduplicated by the consumers)"] = repeats
    return Check("once: no event had its effect twice", not problems, figures, problems)


async def bus_repeats(nats_url: str) -> tuple[int, int]:
    """INGEST's messages and how many carry an event id already seen (an outbox republishing past
    the duplicate window: allowed, the consumers must apply it once)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(INGEST_STREAM.name)
        seen: Counter[str] = Counter()
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            with contextlib.suppress(NotFoundError):
                msg = await js.get_msg(INGEST_STREAM.name, seq)
                seen[(msg.headers or {}).get("Nats-Msg-Id") or str(seq)] += 1
        return sum(seen.values()), sum(n - 1 for n in seen.values())
    finally:
        await nc.close()


async def check_dead_letters(nats_url: str, poison_ids: list[str], consumers: int) -> Check:
    """Each malformed announcement parked (its dead letter's id is the original's stream sequence,
    so the first consumer to give up parks it and a replay reaches them all); nothing else."""
    nc = await nats.connect(nats_url)
    try:
        letters = await list_dead_letters(nc.jetstream(), limit=100_000)
    finally:
        await nc.close()
    parked = Counter(letter.record.original_msg_id for letter in letters)
    unexplained = [
        f"{letter.record.subject} ({letter.record.consumer}): {letter.record.reason[:160]}"
        for letter in letters
        if letter.record.original_msg_id not in poison_ids
    ]
    problems = [f"{n}x {what}" for what, n in Counter(unexplained).most_common()]  # alike, once
    for msg_id in poison_ids:  # one dead letter per message: the first consumer's (dlq:<stream>:<seq>)
        if not 1 <= parked[msg_id] <= consumers:
            problems.append(f"{msg_id} parked {parked[msg_id]} times ({consumers} consumers read it)")
    figures = {
        "dead letters": len(letters),
        "sent malformed": len(poison_ids),
        "unexplained": len(unexplained),
    }
    return Check("dead letters: every one explained", not problems, figures, problems)


async def poison_consumers(nats_url: str) -> int:
    """How many durable consumers read the subject the malformed announcements go to."""
    nc = await nats.connect(nats_url)
    try:
        consumers = await nc.jetstream().consumers_info(INGEST_STREAM.name)
        return sum(1 for c in consumers if c.config.filter_subject == POISON_SUBJECT)
    finally:
        await nc.close()


async def checks(stack: ChaosStack, work: Workload) -> list[Check]:
    expected = work.expected_tallies()
    url = stack.postgres.url()

    async def from_database(conn: asyncpg.Connection) -> list[Check]:
        return [
            await check_panels(conn, work.versions),
            await check_tallies(conn, expected, work.counts["ballots accepted"]),
            await check_pages(conn, stack.base_url("render")),
            await check_once(conn, work.versions, stack.nats.url),
        ]

    found: list[Check] = await with_database(url, from_database)
    consumers = await poison_consumers(stack.nats.url)
    return [*found, await check_dead_letters(stack.nats.url, work.poison_ids, consumers)]


async def run(folder: Path, sizes: Sizes, say: Callable[[str], None] = lambda _: None) -> Report:
    """Start the stack, run the workload under the monkey, let it settle, check; stop the stack."""
    rng = random.Random(sizes.seed)
    # The local route's circuit, opened by a killed model server, retries after 2 s (not 30).
    routes = folder / "routes.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    routes.write_text(json.dumps([{"name": "local", "breaker_cooldown_s": 2}]))
    env = CHAOS_ENV | {
        "VERDICTS_INFERENCE_ROUTES_FILE": str(routes),
        "VERDICTS_REVIEW_PANEL_INFERENCE_TIMEOUT_S": str(sizes.review_timeout_s),
        "VERDICTS_REVIEW_PANEL_JOB_MAX_DELIVER": str(sizes.review_attempts),
    }
    stack = ChaosStack(folder, services=SERVICES, model=True, env=env)
    begun = time.monotonic()
    try:
        await asyncio.to_thread(stack.start)
        started_s = time.monotonic() - begun
        say(f"stack up: {', '.join(stack.components)}")
        key = await grant(stack.keys_database_url, Scope.ADMIN, name="chaos")
        work = Workload(stack, sizes, random.Random(sizes.seed + 1), {"Authorization": f"Bearer {key}"})
        tools = make_tools(sizes.tools, rng)
        sending = True
        monkey = Monkey(
            stack,
            random.Random(sizes.seed + 2),
            report=lambda k: say(f"t={k.at_s:7.2f}s SIGKILL {k.what} (down {k.down_s:.2f}s)"),
        )

        async def workload() -> None:
            nonlocal sending
            await work.announce(tools)
            await work.send_poison()
            slugs = sorted(work.versions)
            await work.votes_know(slugs)
            await asyncio.gather(
                work.cast(slugs), work.update(rng.sample(tools, min(sizes.updates, len(tools))))
            )
            sending = False

        started = time.monotonic()
        await asyncio.gather(
            monkey.run(
                stack.components,
                sizes.rounds,
                keep_going=lambda: sending,
                overlap=True,
                max_rounds=sizes.max_rounds,
            ),
            workload(),
        )
        workload_s = time.monotonic() - started
        say(f"workload done in {workload_s:.1f}s: {dict(work.counts)}; settling")
        settled_at = time.monotonic()
        found: list[Check] = []
        while True:
            with contextlib.suppress(OSError, asyncpg.PostgresError, httpx.HTTPError, asyncio.TimeoutError):
                found = await checks(stack, work)
            if (found and all(c.ok for c in found)) or time.monotonic() - begun > sizes.budget_s:
                break
            await asyncio.sleep(2)
        settle_s = time.monotonic() - settled_at
        return Report(sizes, monkey.kills, found, dict(work.counts), workload_s, settle_s, started_s)
    finally:
        await asyncio.to_thread(stack.stop)
