"""Pages: GETs of a published page (render's page route: read, ETag, security headers) against the
same HTTP server (render's process) serving a static file of the same size from its assets
router, measured in the same run with wrk pinned away from the service; and the 304 answer to a
reader whose copy is current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from bench.harness import Servers, measured_run, running_service
from bench.table import Goal, Row
from bench.wrk import wrk

ASSET = "/assets/site.css"
PAGE = "tools/bench-tool/index.html"
DURATION_S = 8
OPEN_LIMITS = {"VERDICTS_PUBLIC_RATE_PER_S": "1000000", "VERDICTS_PUBLIC_BURST": "1000000"}
"""One client for many readers: the per-address limits out of the way."""


def page_like(size: int) -> bytes:
    """An HTML page of ``size`` bytes (the static file's size, so that bytes sent are equal)."""
    head = b"<!doctype html><html lang=en><head><meta charset=utf-8><title>Bench Tool</title></head><body>"
    tail = b"</body></html>\n"
    filler = b"<p>A published page, as the worker writes it.</p>\n"
    body = (filler * (size // len(filler) + 1))[: size - len(head) - len(tail)]
    return head + body + tail


async def run(env: Servers, duration_s: float = DURATION_S) -> dict[str, Any]:
    with running_service("render", env, OPEN_LIMITS) as service:
        async with httpx.AsyncClient(base_url=service.url) as client:
            asset = (await client.get(ASSET)).raise_for_status()
            page = Path(env.home) / "site" / PAGE
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_bytes(page_like(len(asset.content)))
            etag = (await client.get("/tools/bench-tool/")).raise_for_status().headers["etag"]
        results: dict[str, Any] = {"bytes": len(asset.content)}
        for name, path, current in (
            ("static", ASSET, ""),
            ("page", "/tools/bench-tool/", ""),
            ("not_modified", "/tools/bench-tool/", etag),
        ):
            url = service.url + path
            results[name] = await measured_run(
                service, lambda url=url, current=current: wrk(url, "get", current, duration_s=duration_s)
            )
    return results


def rows(r: dict[str, Any]) -> list[Row]:
    static, page, cached = r["static"], r["page"], r["not_modified"]
    return [
        Row(
            f"pages: GET of a published page with ETag ({r['bytes']:,} B)",
            page["per_s"],
            "req/s",
            Goal.at_least(0.8),
            static["per_s"],
            "static file req/s",
            page["cpu_s_per_1000"],
        ),
        Row(
            "pages: GET answered 304 (If-None-Match)",
            cached["per_s"],
            "req/s",
            None,
            static["per_s"],
            "static file req/s",
            cached["cpu_s_per_1000"],
        ),
    ]


def report(r: dict[str, Any]) -> str:
    return "\n".join(
        ["pages:"]
        + [
            f"  {name}: {r[name]['per_s']:,.0f} req/s, p99 {r[name]['wrk'].p99_ms:.1f} ms,"
            f" statuses {r[name]['wrk'].statuses}, service CPU {r[name]['cpu_s_per_1000']:.2f} s/1k"
            for name in ("static", "page", "not_modified")
        ]
    )
