"""A stack whose every part can be killed with SIGKILL and started again, for the chaos tests and
benchmarks: nats-server, PostgreSQL (durable), optionally the llama.cpp model server, and any of the
services, each ``verdicts run NAME`` in its own process as in a pod.

It is provisioned as ``verdicts up`` does it (one PostgreSQL role and one NATS user per service), so
what survives the crashes here is what survives them in production. The chaos monkey (seeded: the
same seed kills the same parts in the same order) records each kill with its moment.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from verdicts.platform import db_roles
from verdicts.platform.embedded.llama import EmbeddedLlama
from verdicts.platform.embedded.nats import EmbeddedNats
from verdicts.platform.embedded.postgres import EmbeddedPostgres
from verdicts.platform.embedded.process import EmbeddedError, ManagedProcess, free_port

INFRASTRUCTURE = ("nats", "postgres", "llama")


@dataclass(frozen=True, slots=True)
class Kill:
    """One SIGKILL: what, when (seconds since the monkey started) and how long it stayed down."""

    what: str
    at_s: float
    down_s: float


@dataclass
class ChaosStack:
    """nats-server, PostgreSQL, optionally llama.cpp, and ``services`` as killable processes."""

    folder: Path
    services: Sequence[str]
    model: bool = False
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment for every service (shortened timeouts, rate limits, secrets)."""
    nats: EmbeddedNats = field(init=False)
    postgres: EmbeddedPostgres = field(init=False)
    llama: EmbeddedLlama | None = field(init=False, default=None)
    processes: dict[str, ManagedProcess] = field(init=False, default_factory=dict)
    ports: dict[str, int] = field(init=False, default_factory=dict)
    database_urls: dict[str, str] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.nats = EmbeddedNats(self.folder / "nats", port=free_port())
        self.postgres = EmbeddedPostgres(self.folder / "postgres", port=free_port(), durable=True)
        if self.model:
            self.llama = EmbeddedLlama(self.folder / "llama", port=free_port())
        for name in self.services:
            self.ports[name] = free_port()

    @property
    def components(self) -> list[str]:
        """Everything the monkey may kill, servers first."""
        return ["nats", "postgres", *(["llama"] if self.llama else []), *self.services]

    def base_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    @property
    def keys_database_url(self) -> str:
        """The access schema's owner: where API keys are issued."""
        return self.database_urls[db_roles.ACCESS]

    def start(self) -> None:
        self.nats.start()
        self.postgres.start()
        passwords = {s: db_roles.new_password() for s in [*db_roles.SERVICE_SCHEMAS, db_roles.ACCESS]}
        provision = db_roles.provision(self.postgres.url(), passwords)
        with concurrent.futures.ThreadPoolExecutor(1) as thread:  # callable inside an event loop too
            self.database_urls = thread.submit(asyncio.run, provision).result()
        if self.llama:
            self.llama.start()
        base = os.environ | {
            "VERDICTS_NATS_URL": self.nats.url,
            "VERDICTS_HOME": str(self.folder / "home"),
            "VERDICTS_LOG_JSON": "false",
            "VERDICTS_LOG_LEVEL": "WARNING",
            **self.nats.service_environment(),
            **{db_roles.url_variable(s): u for s, u in self.database_urls.items() if s != db_roles.ACCESS},
            **({"VERDICTS_MODEL_URL": self.llama.url} if self.llama else {}),
            **self.env,
        }
        base.pop("DATABASE_URL", None)  # each service on its own role only, as `verdicts up` runs them
        for name in self.services:
            self.processes[name] = ManagedProcess(
                name,
                [sys.executable, "-m", "verdicts.cli.main", "run", name],
                self.folder / f"{name}.log",
                env=base | {"VERDICTS_PORT": str(self.ports[name])},
            )
        for name in self.services:  # started together, then waited for: imports overlap
            self.processes[name].start()
        for name in self.services:
            self._wait_service(name)

    def _wait_service(self, name: str) -> None:
        url = f"{self.base_url(name)}/health/ready"
        self.processes[name].wait_ready(lambda: httpx.get(url, timeout=1).status_code == 200, 120)

    def kill(self, name: str) -> None:
        if name == "nats":
            self.nats.kill()
        elif name == "postgres":
            self.postgres.kill()
        elif name == "llama":
            if self.llama and self.llama.process:
                self.llama.process.kill()
        else:
            self.processes[name].kill()

    def _start(self, name: str) -> None:
        if name == "nats":
            self.nats.start()
        elif name == "postgres":
            self.postgres.start()
        elif name == "llama":
            if self.llama:
                self.llama.start()
        else:
            self.processes[name].start()
            self._wait_service(name)

    def restart(self, name: str, within: float = 90) -> None:
        """Start a killed part again (PostgreSQL may need a moment for its old backends to go, a
        port a moment to be released)."""
        deadline = time.monotonic() + within
        while True:
            try:
                self._start(name)
                return
            except EmbeddedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def stop(self) -> None:
        for process in reversed(self.processes.values()):
            with contextlib.suppress(Exception):
                process.stop()
        for server in (self.llama, self.postgres, self.nats):
            if server is not None:
                with contextlib.suppress(Exception):
                    server.stop()


@contextlib.contextmanager
def running(stack: ChaosStack) -> Iterator[ChaosStack]:
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@dataclass
class Monkey:
    """Kills each of ``victims`` with SIGKILL, in a seeded shuffled order, at random moments, and
    starts it again after a random pause; every kill is recorded (and reported as it happens)."""

    stack: ChaosStack
    rng: random.Random
    pause_s: tuple[float, float] = (0.5, 2.5)
    down_s: tuple[float, float] = (0.2, 1.5)
    report: Callable[[Kill], None] | None = None
    kills: list[Kill] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    async def run(
        self,
        victims: Sequence[str],
        rounds: int = 1,
        keep_going: Callable[[], bool] | None = None,
        *,
        overlap: bool = False,
        max_rounds: int | None = None,
    ) -> None:
        """``rounds`` rounds of every victim once; with ``keep_going``, further rounds while it holds
        (up to ``max_rounds``).
        With ``overlap`` the next kill does not wait for the last restart (a part may die while
        another is still down); a part is never killed again before it is back."""
        pending: dict[str, asyncio.Task[None]] = {}
        done = 0
        try:
            while done < rounds or (
                keep_going is not None and keep_going() and (max_rounds is None or done < max_rounds)
            ):
                for victim in self.rng.sample(list(victims), len(victims)):
                    if done >= rounds and keep_going is not None and not keep_going():
                        return
                    await asyncio.sleep(self.rng.uniform(*self.pause_s))
                    if victim in pending:
                        await pending.pop(victim)
                    if overlap:
                        pending[victim] = asyncio.create_task(self.kill_and_restart(victim))
                    else:
                        await self.kill_and_restart(victim)
                done += 1
        finally:
            await asyncio.gather(*pending.values())

    async def kill_and_restart(self, victim: str) -> None:
        at = time.monotonic() - self.started
        await asyncio.to_thread(self.stack.kill, victim)
        await asyncio.sleep(self.rng.uniform(*self.down_s))
        await asyncio.to_thread(self.stack.restart, victim)
        kill = Kill(victim, round(at, 2), round(time.monotonic() - self.started - at, 2))
        self.kills.append(kill)
        if self.report:
            self.report(kill)


async def send_until_answered(
    client: httpx.AsyncClient,
    path: str,
    body: dict[str, Any],
    counts: Counter[str],
    latencies_ms: list[float] | None = None,
) -> httpx.Response:
    """POST ``body`` until an answer that is not 5xx or 429: a retry is the same request (the same
    nonce or content), so the server's idempotency decides what a repeat does. Retries are counted;
    the answering attempt's latency is kept when asked."""
    while True:
        started = time.perf_counter()
        try:
            response = await client.post(path, json=body)
        except httpx.HTTPError:
            counts["retries"] += 1
            await asyncio.sleep(0.2)
            continue
        if response.status_code >= 500 or response.status_code == 429:
            counts["retries"] += 1
            await asyncio.sleep(0.2)
            continue
        if latencies_ms is not None:
            latencies_ms.append((time.perf_counter() - started) * 1000)
        return response
