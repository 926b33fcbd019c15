"""Tools accepted per second through HTTP (validation, slug lock, row + version + outbox, then the
outbox relay's publish to JetStream) against what PostgreSQL does with the same rows and nothing
else, measured in the same run:

- ``POST /v1/tools`` (one tool a request) against single-row INSERTs, both CONCURRENCY in flight;
- ``POST /v1/tools/batch`` (BATCH tools a request) against asyncpg ``COPY`` of BATCH rows at a time,
  both BATCH_CONCURRENCY in flight.

The HTTP load is wrk (``bench/wrk/bodies.lua``: each body once), pinned away from the service.
Both HTTP clocks stop when the outbox has published every announcement, and the service's CPU
seconds (its whole process: HTTP, SQL, relay) are counted to the same point.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg

from bench.harness import Running, Servers, admin_headers, running_service
from bench.profile import profiled
from bench.table import Goal, Row
from bench.wrk import wrk
from verdicts.platform.testing import sample_tools

SAMPLE = sample_tools()
CONCURRENCY = 16
BATCH = 1000
BATCH_CONCURRENCY = 2
MIN_BATCH_TOOLS = 8000
"""The batch path announces at least this many tools (whatever ``--tools`` says), so a figure
rests on several batches."""

RAW_TABLE = (
    "CREATE TABLE IF NOT EXISTS {name} (slug text PRIMARY KEY, vendor_key text NOT NULL, "
    "category_key text NOT NULL, current_version integer NOT NULL, content_hash text NOT NULL, "
    "record jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), "
    "updated_at timestamptz NOT NULL DEFAULT now())"
)
COLUMNS = ("slug", "vendor_key", "category_key", "current_version", "content_hash", "record")


def tools(n: int, run: str) -> list[dict[str, Any]]:
    return [{**SAMPLE[i % len(SAMPLE)], "name": f"Bench {run} Tool {i}"} for i in range(n)]


def raw_row(item: dict[str, Any]) -> tuple[Any, ...]:
    """The row ingest keeps for ``item``, made the cheap way (the baselines' share of the work)."""
    record = json.dumps(item)
    return (
        item["name"].lower().replace(" ", "-"),
        item["vendor"].casefold(),
        item["category"].casefold(),
        1,
        hashlib.sha256(record.encode()).hexdigest(),
        record,
    )


async def _pool_map(items: list[Any], worker: Callable[[Any], Awaitable[None]], concurrency: int) -> None:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def drain() -> None:
        while not queue.empty():
            await worker(queue.get_nowait())

    await asyncio.gather(*(drain() for _ in range(concurrency)))


async def _outbox_drained(database_url: str, timeout_s: float = 600) -> None:
    """Until the ingest outbox holds no unpublished row."""
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout_s
        while await conn.fetchval("SELECT count(*) FROM ingest.outbox WHERE published_at IS NULL"):
            if time.monotonic() > deadline:
                raise TimeoutError("the ingest outbox did not drain")
            await asyncio.sleep(0.02)
    finally:
        await conn.close()


async def _tools_stored(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM ingest.tools"))
    finally:
        await conn.close()


@contextlib.contextmanager
def _lines(lines: list[str], prefix: str) -> Iterator[Path]:
    """``lines`` in an owner-only temporary file (the headers file holds a partner key)."""
    with tempfile.NamedTemporaryFile("w", prefix=prefix, suffix=".txt") as file:
        file.write("\n".join(lines) + "\n")
        file.flush()
        yield Path(file.name)


async def through_http(
    service: Running,
    database_url: str,
    bodies: list[bytes],
    path: str,
    concurrency: int,
    headers: dict[str, str],
    tools: int,
) -> tuple[float, float, float]:
    """Seconds and service CPU seconds to POST every body once with wrk (``bodies.lua``; each
    answered 200/201, ``tools`` new tools stored) and publish every announcement they caused; and
    the seconds until the last answer (all stored, not yet all published)."""
    header_lines = [f"{k}: {v}" for k, v in (headers | {"Content-Type": "application/json"}).items()]
    stored = await _tools_stored(database_url)
    with (
        _lines([b.decode() for b in bodies], "verdicts-bench-bodies-") as bodies_file,
        _lines(header_lines, "verdicts-bench-headers-") as headers_file,
    ):
        cpu = service.cpu_s()
        start = time.perf_counter()
        result = await asyncio.to_thread(
            wrk,
            service.url,
            "bodies",
            path,
            bodies_file,
            headers_file,
            1,
            connections=concurrency,
            duration_s=600,
            timeout_s=120,
        )
        answered = time.perf_counter() - start
        await _outbox_drained(database_url)
        seconds, cpu_s = time.perf_counter() - start, service.cpu_s() - cpu
    assert result.ok == result.requests == len(bodies), result
    assert set(result.statuses) <= {200, 201}, result.statuses
    assert await _tools_stored(database_url) - stored == tools, "not every tool was stored"
    return seconds, cpu_s, answered


async def _raw_pool(database_url: str, table: str, concurrency: int) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(database_url, min_size=concurrency, max_size=concurrency)
    assert pool is not None
    await pool.execute(f"DROP TABLE IF EXISTS {table}")
    await pool.execute(RAW_TABLE.format(name=table))
    return pool


async def raw_insert(database_url: str, items: list[dict[str, Any]]) -> float:
    """Seconds for single-row INSERTs (autocommit) of the rows, CONCURRENCY in flight."""
    rows = [raw_row(item) for item in items]
    pool = await _raw_pool(database_url, "bench_raw_tools", CONCURRENCY)
    try:
        sql = f"INSERT INTO bench_raw_tools ({', '.join(COLUMNS)}) VALUES ($1, $2, $3, $4, $5, $6::jsonb)"

        async def insert(row: tuple[Any, ...]) -> None:
            await pool.execute(sql, *row)

        start = time.perf_counter()
        await _pool_map(rows, insert, CONCURRENCY)
        return time.perf_counter() - start
    finally:
        await pool.close()


async def raw_copy(database_url: str, items: list[dict[str, Any]]) -> float:
    """Seconds for ``COPY`` of the rows, BATCH at a time, BATCH_CONCURRENCY in flight."""
    rows = [raw_row(item) for item in items]
    chunks = [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]
    pool = await _raw_pool(database_url, "bench_copy_tools", BATCH_CONCURRENCY)
    try:

        async def copy(chunk: list[tuple[Any, ...]]) -> None:
            async with pool.acquire() as conn:
                await conn.copy_records_to_table("bench_copy_tools", records=chunk, columns=COLUMNS)

        start = time.perf_counter()
        await _pool_map(chunks, copy, BATCH_CONCURRENCY)
        return time.perf_counter() - start
    finally:
        await pool.close()


def _batches(items: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(items[i : i + BATCH]).encode() for i in range(0, len(items), BATCH)]


async def run(env: Servers, n: int, *, profile: bool = False) -> dict[str, float]:
    """``n`` tools one a request, at least MIN_BATCH_TOOLS in batches; py-spy of the ingest
    process during the one-a-request run when ``profile``."""
    batch_n = max(n, MIN_BATCH_TOOLS) // BATCH * BATCH
    insert_s = await raw_insert(env.database_url, tools(n, "raw"))
    copy_s = await raw_copy(env.database_url, tools(batch_n, "copy"))
    headers = await admin_headers(env)
    singles = [json.dumps(t).encode() for t in tools(n, "http")]
    batches = _batches(tools(batch_n, "batch"))
    with running_service("ingest", env) as service:
        db = env.database_url
        warm = [json.dumps(t).encode() for t in tools(50, "warm")]
        await through_http(service, db, warm, "/v1/tools", 4, headers, len(warm))
        await through_http(
            service, db, _batches(tools(BATCH, "warm-batch")), "/v1/tools/batch", 1, headers, BATCH
        )
        with profiled(service.pid, "ingest", enabled=profile):
            http_s, http_cpu, http_answered_s = await through_http(
                service, db, singles, "/v1/tools", CONCURRENCY, headers, n
            )
        batch_s, batch_cpu, batch_answered_s = await through_http(
            service, db, batches, "/v1/tools/batch", BATCH_CONCURRENCY, headers, batch_n
        )
    return {
        "tools": n,
        "http_per_s": n / http_s,
        "raw_insert_per_s": n / insert_s,
        "http_cpu_s_per_1000": http_cpu / n * 1000,
        "http_answered_per_s": n / http_answered_s,
        "batch_tools": batch_n,
        "batch_per_s": batch_n / batch_s,
        "copy_per_s": batch_n / copy_s,
        "batch_cpu_s_per_1000": batch_cpu / batch_n * 1000,
        "batch_answered_per_s": batch_n / batch_answered_s,
    }


def rows(result: dict[str, float]) -> list[Row]:
    """The goals judge the rate answered: a 201 means the tool and its announcement are stored in
    one transaction (the outbox). The rate at which the outbox has also published every
    announcement (one JetStream message each, synced to disk) is shown beside it."""
    return [
        Row(
            "ingest: POST /v1/tools, answered 201",
            result["http_answered_per_s"],
            "tools/s",
            Goal.at_least(0.3),
            result["raw_insert_per_s"],
            "raw INSERTs/s",
            result["http_cpu_s_per_1000"],
        ),
        Row(
            "ingest: POST /v1/tools, announced on the bus",
            result["http_per_s"],
            "tools/s",
            None,
            result["raw_insert_per_s"],
            "raw INSERTs/s",
        ),
        Row(
            f"ingest: POST /v1/tools/batch ({BATCH:,} per batch), answered",
            result["batch_answered_per_s"],
            "tools/s",
            Goal.at_least(0.5),
            result["copy_per_s"],
            "COPY rows/s",
            result["batch_cpu_s_per_1000"],
        ),
        Row(
            f"ingest: POST /v1/tools/batch ({BATCH:,} per batch), announced",
            result["batch_per_s"],
            "tools/s",
            None,
            result["copy_per_s"],
            "COPY rows/s",
        ),
    ]


def report(result: dict[str, float]) -> str:
    ratio = result["http_per_s"] / result["raw_insert_per_s"]
    batch_ratio = result["batch_per_s"] / result["copy_per_s"]
    return (
        f"ingest: {result['http_per_s']:.0f} tools/s accepted over HTTP with the outbox vs "
        f"{result['raw_insert_per_s']:.0f} raw INSERTs/s of the same rows "
        f"({int(result['tools'])} tools, {CONCURRENCY} concurrent): ratio {ratio:.2f}, "
        f"service CPU {result['http_cpu_s_per_1000']:.2f} s per 1,000 requests "
        f"(answered at {result['http_answered_per_s']:.0f}/s, before the outbox had published all)\n"
        f"ingest: {result['batch_per_s']:.0f} tools/s in batches of {BATCH:,} vs "
        f"{result['copy_per_s']:.0f} COPY rows/s of the same rows "
        f"({int(result['batch_tools'])} tools, {BATCH_CONCURRENCY} batches in flight): "
        f"ratio {batch_ratio:.2f}, service CPU {result['batch_cpu_s_per_1000']:.2f} s per 1,000 tools "
        f"(answered at {result['batch_answered_per_s']:.0f}/s, before the outbox had published all)"
    )
