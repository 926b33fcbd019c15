"""`verdicts status`: streams (fill against limits), consumer lag, dead letters, outboxes (waiting and
parked rows), schemas and the model backend of a running stack."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
from nats.js.api import StreamInfo
from nats.js.errors import NotFoundError

from verdicts.cli.registry import SERVICE_MODULES, schema_of
from verdicts.cli.stack import STACK_FILE
from verdicts.contracts.subjects import ALL_STREAMS, DEAD_LETTER_STREAM
from verdicts.platform import db_roles
from verdicts.platform.broker import without_credentials
from verdicts.platform.outbox import parked as parked_rows


def discover(home: Path) -> dict[str, str]:
    """URLs from the environment, else from the state file of a running `verdicts up`."""
    state: dict[str, str] = {}
    with_file = home / STACK_FILE
    if with_file.exists():
        state = {k: str(v) for k, v in json.loads(with_file.read_text()).items()}
    schema_urls = [db_roles.url_variable(s) for s in (*map(schema_of, SERVICE_MODULES), db_roles.ACCESS)]
    for key in ("VERDICTS_NATS_URL", "DATABASE_URL", "VERDICTS_MODEL_URL", *schema_urls):
        if os.environ.get(key):
            state[key] = os.environ[key]
    return state


async def collect(urls: dict[str, str]) -> dict[str, Any]:
    report: dict[str, Any] = {}
    report["streams"] = streams = await _streams(urls.get("VERDICTS_NATS_URL", ""))
    dead_letters = streams.get(DEAD_LETTER_STREAM.name) if isinstance(streams, dict) else None
    if isinstance(dead_letters, dict):
        report["dead_letters"] = dead_letters["messages"]  # each kept until replayed or dropped
    report["schemas"] = await _schemas(urls)
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
        return f"unreachable at {without_credentials(url)}: {exc.__class__.__name__}"
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
                **fill(info),
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


def fill(info: StreamInfo) -> dict[str, Any]:
    """How full a stream is: messages and bytes against its limits (-1: none), and how it discards."""
    config, state = info.config, info.state
    max_bytes, max_msgs = config.max_bytes or -1, config.max_msgs or -1
    percent = max(
        100 * state.bytes / max_bytes if max_bytes > 0 else 0.0,
        100 * state.messages / max_msgs if max_msgs > 0 else 0.0,
    )
    return {
        "messages": state.messages,
        "max_msgs": max_msgs,
        "bytes": state.bytes,
        "max_bytes": max_bytes,
        "full_percent": round(percent, 1),
        "discard": str(getattr(config.discard, "value", config.discard)),
        "max_age_s": config.max_age or 0,
        "replicas": config.num_replicas,
    }


async def _outbox(conn: asyncpg.Connection, schema: str) -> dict[str, Any]:
    """Rows waiting to be published (and the oldest's age), and parked rows with their reasons."""
    waiting: Any = await conn.fetchrow(
        "SELECT count(*) AS rows, extract(epoch FROM now() - min(created_at)) AS oldest_s "
        f'FROM "{schema}".outbox WHERE published_at IS NULL AND parked_at IS NULL'
    )
    parked = [
        {"seq": r["seq"], "subject": r["subject"], "failures": r["failures"], "reason": r["last_error"]}
        for r in await parked_rows(conn, schema)
    ]
    oldest = waiting["oldest_s"]
    return {
        "waiting": waiting["rows"],
        "oldest_waiting_s": round(float(oldest), 1) if oldest is not None else None,
        "parked": parked,
    }


async def _schemas(urls: dict[str, str]) -> dict[str, Any] | str:
    """Each schema read with its own role's URL (``verdicts up``), else the shared ``DATABASE_URL``."""
    shared = urls.get("DATABASE_URL", "")
    owners = [(name, schema_of(name)) for name in SERVICE_MODULES] + [("platform", db_roles.ACCESS)]
    if not shared and not any(urls.get(db_roles.url_variable(schema)) for _, schema in owners):
        return "not configured (DATABASE_URL unset and no running `verdicts up`)"
    schemas: dict[str, Any] = {}
    for name, schema in owners:
        url = urls.get(db_roles.url_variable(schema)) or shared
        if not url:
            schemas[schema] = f"not configured ({db_roles.url_variable(schema)} and DATABASE_URL unset)"
            continue
        try:
            conn = await asyncpg.connect(url, timeout=3)
        except Exception as exc:
            schemas[schema] = f"unreachable: {exc.__class__.__name__}"
            continue
        try:
            exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{schema}.schema_migrations")
            if not exists:
                schemas[schema] = "not migrated"
                continue
            rows = await conn.fetch(f'SELECT version FROM "{schema}".schema_migrations ORDER BY version')
            schemas[schema] = {"service": name, "migrations": [r["version"] for r in rows]}
            if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{schema}.outbox"):
                schemas[schema]["outbox"] = await _outbox(conn, schema)
        finally:
            await conn.close()
    return schemas


async def _model(url: str) -> dict[str, Any] | str:
    if not url:
        return "not configured (VERDICTS_MODEL_URL unset and no running `verdicts up`)"
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            response = await client.get(f"{url.rstrip('/')}/models")
        models = [m.get("id") for m in response.json().get("data", [])]
        return {"backend": "llama.cpp (OpenAI-compatible)", "url": url, "models": models}
    except Exception as exc:
        return f"unreachable at {without_credentials(url)}: {exc.__class__.__name__}"


async def _http(url: str) -> Any:
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(f"{url}/health/ready")
        return response.json()
    except Exception as exc:
        return f"unreachable at {without_credentials(url)}: {exc.__class__.__name__}"


def status_report(home: Path) -> dict[str, Any]:
    return asyncio.run(collect(discover(home)))
