"""Tools accepted per second through HTTP (validation, slug lock, row + version + outbox)
against a raw INSERT of the same rows, measured in the same run."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import asyncpg
import httpx

from bench.harness import Servers, admin_headers, service
from verdicts.platform.testing import sample_tools

SAMPLE = sample_tools()
CONCURRENCY = 16


def tools(n: int, run: str) -> list[dict[str, Any]]:
    return [{**SAMPLE[i % len(SAMPLE)], "name": f"Bench {run} Tool {i}"} for i in range(n)]


async def _pool_map(items: list[Any], worker: Any) -> None:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def drain() -> None:
        while not queue.empty():
            await worker(queue.get_nowait())

    await asyncio.gather(*(drain() for _ in range(CONCURRENCY)))


async def through_http(url: str, items: list[dict[str, Any]], headers: dict[str, str]) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as client:

        async def post(item: dict[str, Any]) -> None:
            response = await client.post("/v1/tools", json=item)
            assert response.status_code == 201, response.text

        start = time.perf_counter()
        await _pool_map(items, post)
        return time.perf_counter() - start


async def raw_insert(database_url: str, items: list[dict[str, Any]]) -> float:
    pool = await asyncpg.create_pool(database_url, min_size=CONCURRENCY, max_size=CONCURRENCY)
    assert pool is not None
    await pool.execute("CREATE TABLE IF NOT EXISTS bench_raw_tools (slug text PRIMARY KEY, record jsonb)")
    try:

        async def insert(item: dict[str, Any]) -> None:
            await pool.execute(
                "INSERT INTO bench_raw_tools (slug, record) VALUES ($1, $2::jsonb)",
                item["name"].lower().replace(" ", "-"),
                json.dumps(item),
            )

        start = time.perf_counter()
        await _pool_map(items, insert)
        return time.perf_counter() - start
    finally:
        await pool.close()


async def run(env: Servers, n: int) -> dict[str, float]:
    baseline = await raw_insert(env.database_url, tools(n, "raw"))
    headers = await admin_headers(env)
    with service("ingest", env) as url:
        await through_http(url, tools(50, "warmup"), headers)
        measured = await through_http(url, tools(n, "http"), headers)
    return {"tools": n, "http_per_s": n / measured, "raw_insert_per_s": n / baseline}


def report(result: dict[str, float]) -> str:
    ratio = result["http_per_s"] / result["raw_insert_per_s"]
    return (
        f"ingest: {result['http_per_s']:.0f} tools/s accepted over HTTP with the outbox vs "
        f"{result['raw_insert_per_s']:.0f} raw INSERTs/s of the same rows "
        f"({int(result['tools'])} tools, {CONCURRENCY} concurrent): ratio {ratio:.2f}"
    )
