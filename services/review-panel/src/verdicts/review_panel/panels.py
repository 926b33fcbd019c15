"""Panel runs in review-panel's tables: opened, reviewed and decided, one transaction each.

The domain decides (the review jobs of a run, when a panel is decided and its tally, the events),
the store reads and writes, events go through the outbox in the same transaction.
"""

from __future__ import annotations

import asyncpg

from verdicts.contracts import ReviewRequested, Tool
from verdicts.platform.idempotency import process_once
from verdicts.review_panel import store
from verdicts.review_panel.domain import (
    Rerun,
    ReviewOutcome,
    panel_verdict,
    review_completed,
    review_requests,
    verdict_updated,
)
from verdicts.review_panel.personas import Roster

TOOL_EVENTS = "tool-events"
"""The consumer name tool announcements and updates are claimed under (processed once)."""


class PanelBook:
    """review-panel's panels on one database pool, for the panel ``roster``."""

    def __init__(self, pool: asyncpg.Pool, roster: Roster) -> None:
        self.pool = pool
        self.roster = roster

    async def open(self, event_id: str, tool: Tool, version: int) -> bool:
        """Keep the tool version and open its first panel run, once per event and per version;
        whether a run was opened (its review jobs requested)."""
        async with process_once(self.pool, store.SCHEMA, TOOL_EVENTS, event_id) as conn:
            if conn is None:
                return False
            await store.keep_tool(conn, tool, version)
            if not await store.open_first_run(conn, tool.slug, version, self.roster.ids):
                return False
            for job in review_requests(tool.slug, version, 1, self.roster.ids):
                await store.record_event(conn, job)
            return True

    async def rerun(self, slug: str, in_progress_max_s: float) -> Rerun | None:
        """A fresh panel run on the tool's latest version, unless a run of the tool is still in
        progress (see ``Rerun``); ``None`` for a tool review-panel has not seen. Earlier runs stay
        as history."""
        async with self.pool.acquire() as conn, conn.transaction():
            version = await store.latest_version(conn, slug)
            if version is None:
                return None
            rerun = await store.open_next_run(conn, slug, version, self.roster.ids, in_progress_max_s)
            if rerun.started:
                for job in review_requests(slug, version, rerun.run, self.roster.ids):
                    await store.record_event(conn, job)
            return rerun

    async def job_state(self, job: ReviewRequested) -> tuple[Tool | None, bool]:
        """The tool version a job reviews (``None`` when unknown), and whether its review is stored."""
        return await store.job_state(self.pool, job)

    async def record(self, job: ReviewRequested, outcome: ReviewOutcome) -> bool:
        """Store the job's review (once) and publish it; when it is the panel's last, decide the
        panel and publish its verdict. Whether the review was new."""
        async with self.pool.acquire() as conn, conn.transaction():
            panel = await store.lock_panel(conn, job)  # first: see store.lock_panel
            if not await store.insert_review(conn, job, outcome):
                return False
            await store.record_event(conn, review_completed(job, outcome, self.roster))
            result = panel_verdict(panel, await store.panel_reviews(conn, job))
            if result is not None:
                await store.close_panel(conn, job, result)
                await store.record_event(conn, verdict_updated(job, result))
            return True
