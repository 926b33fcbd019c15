"""Rendering and publishing: the re-render loop, comparisons kept on request, and comparisons
rendered for a reader (a pair nobody asked to keep is rendered per request, never kept).

Every interval the loop renders the pages events marked dirty (so a vote storm re-renders a page
at most once per interval), publishes them and announces `render.page.published` (outbox): a
batch at a time, its tools read together, its files written with one sync (see ``publisher``),
recorded and announced with one statement each.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping, Sequence

import asyncpg

from verdicts.contracts import PagePublished
from verdicts.platform.db import Conn
from verdicts.platform.metrics import PAGES_PUBLISHED
from verdicts.platform.outbox import enqueue_many
from verdicts.platform.service import Runtime
from verdicts.platform.telemetry import current_trace_headers, span_from
from verdicts.render import store
from verdicts.render.domain import canonical_pair, comparison_path, full_category
from verdicts.render.pages import Output, Site, Views
from verdicts.render.publisher import DirectoryPublisher, Publisher

log = logging.getLogger(__name__)
BATCH = 500
"""Pages per transaction when many are due. A batch costs two file-system syncs and one read of
its tools whatever its size: 500 pages (about a quarter of a second here) publish ~7% faster
than 200; a page due alone still goes out within a tick."""


class TooManyPairs(Exception):
    """A category already keeps as many requested comparisons as it may."""

    def __init__(self, category: str, limit: int) -> None:
        super().__init__(category, limit)
        self.category = category
        self.limit = limit


class UnknownTool(LookupError):
    """A comparison names a tool render has not heard of."""

    def __init__(self, slug: str) -> None:
        super().__init__(slug)
        self.slug = slug


async def publish_outputs(conn: Conn, publisher: Publisher, outputs: list[Output]) -> None:
    """Write each output, record it, and announce it in the same transaction (outbox)."""
    await publish_rendered(conn, publisher, [(outputs, current_trace_headers())])


async def publish_rendered(
    conn: Conn, publisher: Publisher, rendered: Sequence[tuple[list[Output], Mapping[str, str]]]
) -> None:
    """Publish pages rendered together, each with the trace headers it was rendered under: their
    files written as one batch (one sync, not one per file: see ``publisher``), then recorded
    and announced in the caller's transaction (outbox), one statement each for the whole batch.
    The files are on disk before the transaction commits; a rollback leaves the pages queued."""
    files = [(o, o.etag, headers) for page, headers in rendered for o in page]  # each hashed once
    if not files:
        return
    await asyncio.to_thread(publisher.publish_all, [(o.path, o.body, o.content_type) for o, _, _ in files])
    await store.record_pages(conn, [(o.path, o.kind, etag, len(o.body)) for o, etag, _ in files])
    for kind, count in Counter(o.kind for o, _, _ in files).items():
        PAGES_PUBLISHED.labels(kind).inc(count)
    events = [
        (PagePublished.create(path="/" + o.path, kind=o.kind, etag=etag, bytes=len(o.body)), headers)
        for o, etag, headers in files
    ]
    await enqueue_many(conn, store.SCHEMA, events)


async def render_pages(
    conn: Conn, site: Site, publisher: Publisher, pages: Sequence[store.DirtyPage]
) -> list[Output]:
    """Render ``pages`` from one reading of the read model (the tools they show read together),
    each in a span joining the trace that queued it (links: the rest), and publish them as one
    batch in the caller's transaction. Returns what was published."""
    views = Views(conn, site.seen)
    await views.prepare(p.page for p in pages)
    rendered: list[tuple[list[Output], Mapping[str, str]]] = []
    for page in pages:
        with span_from("render page", page.traceparents, child_of_first=True, attributes={"page": page.page}):
            rendered.append((await site.render(conn, page.page, views), current_trace_headers()))
    await publish_rendered(conn, publisher, rendered)
    return [o for outputs, _ in rendered for o in outputs]


async def keep_comparison(
    pool: asyncpg.Pool,
    site: Site,
    publisher: DirectoryPublisher,
    a: str,
    b: str,
    *,
    limit: int,
    requested_by: str,
) -> tuple[str, bool]:
    """Keep the comparison of two known tools current, published now if it is not yet: its path,
    and whether it is newly kept. A new pair counts against ``limit`` in each tool's category.
    Raises ``UnknownTool`` or ``TooManyPairs`` (nothing kept)."""
    x, y = canonical_pair(a, b)
    async with pool.acquire() as conn, conn.transaction():
        categories = {}
        for slug in (x, y):
            placement = await store.tool_placement(conn, slug)
            if placement is None:
                raise UnknownTool(slug)
            categories[slug] = placement[0]
        await store.lock_categories(conn, categories.values())
        added = False
        if not await store.kept(conn, x, y):
            requested = {c: await store.requested_in(conn, c) for c in set(categories.values())}
            if (full := full_category(requested, limit)) is not None:
                raise TooManyPairs(full, limit)
            added = await store.add_requested(conn, x, y, requested_by)
        target = comparison_path(x, y)
        if added or not publisher.resolve(target + "index.html").exists():
            await publish_outputs(conn, publisher, await site.comparison(conn, x, y))
    return target, added


async def comparison_for_reader(
    pool: asyncpg.Pool, site: Site, publisher: DirectoryPublisher, a: str, b: str
) -> str | list[Output]:
    """A kept comparison's path (published now if it is not yet), or the pages of a pair not kept,
    rendered for this reader only and neither published nor kept. Raises ``UnknownTool``."""
    x, y = canonical_pair(a, b)
    target = comparison_path(x, y)
    async with pool.acquire() as conn, conn.transaction():
        for slug in (x, y):
            if not await store.known(conn, slug):
                raise UnknownTool(slug)
        if not await store.kept(conn, x, y):
            return await site.comparison(conn, x, y)
        if not publisher.resolve(target + "index.html").exists():
            await publish_outputs(conn, publisher, await site.comparison(conn, x, y))
    return target


async def render_dirty(runtime: Runtime, site: Site, publisher: Publisher, spacing_s: float) -> int:
    """One pass over the pages that are due; returns how many were rendered."""
    done = 0
    async with runtime.pool.acquire() as conn:
        while True:
            async with conn.transaction():
                pages = await store.take_dirty(conn, spacing_s, BATCH)
                await render_pages(conn, site, publisher, pages)
            done += len(pages)
            if len(pages) < BATCH:
                return done


TICK_S = 0.05
"""How often the queue is looked at: an indexed query that usually finds nothing."""


async def run(runtime: Runtime, site: Site, publisher: Publisher, interval_s: float) -> None:
    """A quiet page updates within a tick; a busy one at most once per ``interval_s``."""
    tick = min(TICK_S, interval_s)
    while True:
        try:
            await render_dirty(runtime, site, publisher, interval_s)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("render pass failed; the pages stay queued")
        await asyncio.sleep(tick)
