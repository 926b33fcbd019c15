"""`verdicts status`: streams, consumers, schemas and the model backend of a running stack."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
from nats.js.errors import NotFoundError

from verdicts.cli.registry import SERVICE_MODULES, schema_of
from verdicts.cli.stack import STACK_FILE
from verdicts.contracts.subjects import ALL_STREAMS


def discover(home: Path) -> dict[str, str]:
    """URLs from the environment, else from the state file of a running `verdicts up`."""
    state: dict[str, str] = {}
    with_file = home / STACK_FILE
    if with_file.exists():
        state = {k: str(v) for k, v in json.loads(with_file.read_text()).items()}
    for key in ("VERDICTS_NATS_URL", "DATABASE_URL", "VERDICTS_MODEL_URL"):
        if os.environ.get(key):
            state[key] = os.environ[key]
    return state


async def collect(urls: dict[str, str]) -> dict[str, Any]:
    report: dict[str, Any] = {}
    report["streams"] = await _streams(urls.get("VERDICTS_NATS_URL", ""))
    report["schemas"] = await _schemas(urls.get("DATABASE_URL", ""))
    report["model"] = await _model(urls.get("VERDICTS_MODEL_URL", ""))
    if urls.get("http_url"):
        report["http"] = await _http(urls["http_url"])
    return report


async def _streams(url: str) -> dict[str, Any] | str:
    if not url:
        return "not configured (VERDICTS_NATS_URL unset and no running `verdicts up`)"
    try:
        nc = await nats.connect(url, connect_timeout=3, max_reconnect_attempts=0, allow_reconnect=False)
    except Exception as exc:
        return f"unreachable at {url}: {exc.__class__.__name__}"
    try:
        js = nc.jetstream()
        streams: dict[str, Any] = {}
        for stream in ALL_STREAMS:
            try:
                info = await js.stream_info(stream.name)
            except NotFoundError:
                streams[stream.name] = "missing"
                continue
            consumers = await js.consumers_info(stream.name)
            streams[stream.name] = {
                "subjects": list(info.config.subjects or []),
                "messages": info.state.messages,
                "bytes": info.state.bytes,
                "consumers": {
                    c.name: {
                        "pending": c.num_pending,
                        "ack_pending": c.num_ack_pending,
                        "redelivered": c.num_redelivered,
                    }
                    for c in consumers
                },
            }
        return streams
    finally:
        await nc.close()


async def _schemas(url: str) -> dict[str, Any] | str:
    if not url:
        return "not configured (DATABASE_URL unset and no running `verdicts up`)"
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except Exception as exc:
        return f"unreachable: {exc.__class__.__name__}"
    try:
        schemas: dict[str, Any] = {}
        for name in SERVICE_MODULES:
            schema = schema_of(name)
            exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{schema}.schema_migrations")
            if not exists:
                schemas[schema] = "not migrated"
                continue
            rows = await conn.fetch(f'SELECT version FROM "{schema}".schema_migrations ORDER BY version')
            schemas[schema] = {"service": name, "migrations": [r["version"] for r in rows]}
        return schemas
    finally:
        await conn.close()


async def _model(url: str) -> dict[str, Any] | str:
    if not url:
        return "not configured (VERDICTS_MODEL_URL unset and no running `verdicts up`)"
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            response = await client.get(f"{url.rstrip('/')}/models")
        models = [m.get("id") for m in response.json().get("data", [])]
        return {"backend": "llama.cpp (OpenAI-compatible)", "url": url, "models": models}
    except Exception as exc:
        return f"unreachable at {url}: {exc.__class__.__name__}"


async def _http(url: str) -> Any:
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(f"{url}/health/ready")
        return response.json()
    except Exception as exc:
        return f"unreachable at {url}: {exc.__class__.__name__}"


def status_report(home: Path) -> dict[str, Any]:
    return asyncio.run(collect(discover(home)))
