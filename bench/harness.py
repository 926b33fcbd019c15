"""Real servers for benchmarks: durable settings, as in production."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psutil

from verdicts.platform.access.issuing import grant
from verdicts.platform.access.keys import Scope
from verdicts.platform.embedded.llama import EmbeddedLlama
from verdicts.platform.embedded.nats import EmbeddedNats
from verdicts.platform.embedded.postgres import EmbeddedPostgres
from verdicts.platform.embedded.process import free_port

if TYPE_CHECKING:
    from bench.wrk import WrkResult

VERDICTS = str(Path(sys.executable).parent / "verdicts")


@dataclass
class Servers:
    nats_url: str
    database_url: str
    home: Path


@contextlib.contextmanager
def llama(env: Servers) -> Iterator[str]:
    server = EmbeddedLlama(env.home / "llama", port=free_port())
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@contextlib.contextmanager
def servers() -> Iterator[Servers]:
    home = Path(tempfile.mkdtemp(prefix="verdicts-bench-"))
    nats = EmbeddedNats(home / "nats", port=free_port())
    pg = EmbeddedPostgres(home / "postgres", port=free_port())
    nats.start()
    pg.start()
    try:
        yield Servers(nats.url, pg.url(), home)
    finally:
        nats.stop()
        pg.stop()


async def admin_headers(env: Servers) -> dict[str, str]:
    """An admin key for the benchmark's own writes (admin keys are not rate-limited)."""
    key = await grant(env.database_url, Scope.ADMIN, name="bench")
    return {"Authorization": f"Bearer {key}"}


SERVICE_CPUS = {0}
"""Where the measured service runs; the load generator gets the other cores (where there are any)."""


def pin_to_service_cpus(pid: int) -> None:
    """Keep a measured service on ``SERVICE_CPUS`` (where the machine has more cores than that)."""
    if len(os.sched_getaffinity(0)) > len(SERVICE_CPUS):
        os.sched_setaffinity(pid, SERVICE_CPUS)


def load_cpus() -> set[int]:
    """The cores the load generator is pinned to: away from the service when the machine allows."""
    cpus = os.sched_getaffinity(0)
    return (cpus - SERVICE_CPUS) or cpus


@dataclass
class Running:
    """A service process under measurement: its URL, and the CPU it has used."""

    url: str
    pid: int

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the service process has used so far."""
        times = psutil.Process(self.pid).cpu_times()
        return float(times.user + times.system)


async def measured_run(service: Running, load: Callable[[], WrkResult]) -> dict[str, Any]:
    """Run ``load`` (a wrk run, in a thread) against ``service``: its result, the answered rate and
    the service's CPU seconds per 1,000 answers."""
    before = service.cpu_s()
    result = await asyncio.to_thread(load)
    cpu_s = service.cpu_s() - before
    return {"wrk": result, "per_s": result.per_s, "cpu_s_per_1000": cpu_s / max(result.requests, 1) * 1000}


@contextlib.contextmanager
def service(name: str, env: Servers, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """``verdicts run NAME`` as a separate process, like a pod; yields its base URL."""
    with running_service(name, env, extra_env) as running:
        yield running.url


@contextlib.contextmanager
def running_service(name: str, env: Servers, extra_env: dict[str, str] | None = None) -> Iterator[Running]:
    """``verdicts run NAME`` as a separate process pinned to ``SERVICE_CPUS`` (where the machine has
    more cores than that), like a pod; yields it once ready."""
    port = free_port()
    proc_env = os.environ | {
        "VERDICTS_NATS_URL": env.nats_url,
        "DATABASE_URL": env.database_url,
        "VERDICTS_PORT": str(port),
        "VERDICTS_LOG_LEVEL": "WARNING",
        "VERDICTS_HOME": str(env.home),
        **(extra_env or {}),
    }
    proc = subprocess.Popen([VERDICTS, "run", name], env=proc_env, stdout=subprocess.DEVNULL)
    pin_to_service_cpus(proc.pid)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield Running(url, proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
