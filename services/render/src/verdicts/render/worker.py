"""The render loop: every interval, render the pages events marked dirty (so a vote storm
re-renders a page at most once per interval), publish them and announce `render.page.published`."""

from __future__ import annotations

import asyncio
import logging

from verdicts.contracts import PagePublished
from verdicts.platform.db import Conn
from verdicts.platform.outbox import enqueue
from verdicts.platform.service import Runtime
from verdicts.render import store
from verdicts.render.pages import Output, Site
from verdicts.render.publisher import Publisher

log = logging.getLogger(__name__)


async def publish_outputs(conn: Conn, publisher: Publisher, outputs: list[Output]) -> None:
    for output in outputs:
        await asyncio.to_thread(publisher.publish, output.path, output.body, output.content_type)
        await store.record_page(conn, output.path, output.kind, output.etag, len(output.body))
        await enqueue(
            conn,
            store.SCHEMA,
            PagePublished.create(
                path="/" + output.path, kind=output.kind, etag=output.etag, bytes=len(output.body)
            ),  # type: ignore[arg-type]
        )


async def render_dirty(runtime: Runtime, site: Site, publisher: Publisher) -> int:
    """One pass: every page queued since the last; returns how many were rendered."""
    done = 0
    async with runtime.pool.acquire() as conn:
        while True:
            async with conn.transaction():
                pages = await store.take_dirty(conn, 200)
                for page in pages:
                    await publish_outputs(conn, publisher, await site.render(conn, page))
            done += len(pages)
            if len(pages) < 200:
                return done


async def run(runtime: Runtime, site: Site, publisher: Publisher, interval_s: float) -> None:
    while True:
        try:
            await render_dirty(runtime, site, publisher)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("render pass failed; the pages stay queued")
        await asyncio.sleep(interval_s)
