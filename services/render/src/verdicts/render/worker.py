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
BATCH = 200


async def publish_outputs(conn: Conn, publisher: Publisher, outputs: list[Output]) -> None:
    for output in outputs:
        await asyncio.to_thread(publisher.publish, output.path, output.body, output.content_type)
        await store.record_page(conn, output.path, output.kind, output.etag, len(output.body))
        await enqueue(
            conn,
            store.SCHEMA,
            PagePublished.create(
                path="/" + output.path, kind=output.kind, etag=output.etag, bytes=len(output.body)
            ),
        )


async def render_dirty(runtime: Runtime, site: Site, publisher: Publisher, spacing_s: float) -> int:
    """One pass over the pages that are due; returns how many were rendered."""
    done = 0
    async with runtime.pool.acquire() as conn:
        while True:
            async with conn.transaction():
                pages = await store.take_dirty(conn, spacing_s, BATCH)
                for page in pages:
                    await publish_outputs(conn, publisher, await site.render(conn, page))
            done += len(pages)
            if len(pages) < BATCH:
                return done


async def run(runtime: Runtime, site: Site, publisher: Publisher, interval_s: float) -> None:
    """A quiet page updates within a tick; a busy one at most once per ``interval_s``."""
    tick = min(0.1, interval_s)
    while True:
        try:
            await render_dirty(runtime, site, publisher, interval_s)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("render pass failed; the pages stay queued")
        await asyncio.sleep(tick)
