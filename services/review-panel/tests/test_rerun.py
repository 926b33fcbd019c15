"""The panel re-run over HTTP on a real PostgreSQL: a reviews:rerun key, one run in progress at a
time (concurrent re-runs: exactly one starts), the daily re-runs quota; reads stay public."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from faststream.nats import NatsRouter
from panel_testing import SAMPLE

from verdicts.contracts import ReviewRequested, Tool
from verdicts.ingest.domain import ToolSubmission, to_tool
from verdicts.platform.access.issuing import grant
from verdicts.platform.access.keys import Scope, parse_key
from verdicts.platform.db import create_pool
from verdicts.platform.service import build_app
from verdicts.platform.settings import PlatformSettings
from verdicts.platform.testing.plugin import served
from verdicts.review_panel.app import create_app
from verdicts.review_panel.panels import PanelBook
from verdicts.review_panel.personas import load_roster

pytestmark = pytest.mark.integration

ROSTER = load_roster()
RERUNS_PER_DAY = 3


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def sample_tool(index: int) -> Tool:
    raw = SAMPLE[index]
    return to_tool(ToolSubmission.model_validate(raw), category=raw["category"])


@pytest.fixture(scope="module")
async def client(settings):
    """review-panel served over real HTTP in this event loop (so requests do run concurrently),
    without its bus subscribers: the review jobs a re-run requests are published and left alone."""
    async with panel_api(settings) as client:
        yield client


@contextlib.asynccontextmanager
async def panel_api(settings: PlatformSettings) -> AsyncIterator[httpx.AsyncClient]:
    spec = dataclasses.replace(create_app(settings), router=NatsRouter())
    app = build_app([spec], settings)
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
async def panels(client, database_url) -> AsyncIterator[PanelBook]:
    """The panels on their own pool, for setting tools up (after the app migrated the schema)."""
    pool = await create_pool(database_url, max_size=2)
    yield PanelBook(pool, ROSTER)
    await pool.close()


@pytest.fixture(scope="module")
async def rerunner(database_url) -> dict[str, str]:
    return bearer(await grant(database_url, Scope.REVIEWS_RERUN, name="rerunner"))


async def known_tool(panels: PanelBook, db, index: int, *, decided: bool = True) -> str:
    """A tool review-panel has seen, its first run decided (or still running)."""
    tool = sample_tool(index)
    assert await panels.open(f"announced:{tool.slug}", tool, 1)
    if decided:
        await decide(db, tool.slug)
    return tool.slug


async def decide(db, slug: str) -> None:
    await db.execute(
        "UPDATE review_panel.panels SET status = 'complete', completed_at = now() "
        "WHERE slug = $1 AND status = 'running'",
        slug,
    )


async def test_a_rerun_without_a_key_is_401(client):
    response = await client.post("/v1/admin/tools/anything/reviews")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_tools_write_key_may_not_rerun(client, database_url):
    writer = bearer(await grant(database_url, Scope.TOOLS_WRITE, vendors=("Acme",)))
    response = await client.post("/v1/admin/tools/anything/reviews", headers=writer)
    assert response.status_code == 403
    assert response.json()["required_scope"] == "reviews:rerun"


async def test_an_unknown_tool_is_404_and_not_counted(client, database_url, db):
    key = await grant(database_url, Scope.REVIEWS_RERUN, name="unknown-tool")
    response = await client.post("/v1/admin/tools/no-such-tool/reviews", headers=bearer(key))
    assert response.status_code == 404
    assert response.json()["field"] == "slug"
    assert await reruns_counted(db, key) == 0


async def reruns_counted(db, key: str) -> int:
    used = await db.fetchval(
        "SELECT coalesce(sum(amount), 0) FROM access.key_usage WHERE key_id = $1 AND kind = 'reruns'",
        parse_key(key),
    )
    return int(used)


async def test_a_rerun_while_a_run_is_in_progress_is_409(client, panels, db, rerunner):
    slug = await known_tool(panels, db, 0, decided=False)
    response = await client.post(f"/v1/admin/tools/{slug}/reviews", headers=rerunner)
    assert response.status_code == 409, response.text
    problem = response.json()
    assert (problem["code"], problem["version"], problem["run"]) == ("run-in-progress", 1, 1)
    assert await db.fetchval("SELECT count(*) FROM review_panel.panels WHERE slug = $1", slug) == 1

    await decide(db, slug)
    started = await client.post(f"/v1/admin/tools/{slug}/reviews", headers=rerunner, json={})
    assert started.status_code == 202, started.text
    assert started.json() == {"slug": slug, "version": 1, "run": 2, "status": "running"}


async def test_concurrent_reruns_start_exactly_one_run(client, panels, db, rerunner):
    slug = await known_tool(panels, db, 1)
    answers = await asyncio.gather(
        *(client.post(f"/v1/admin/tools/{slug}/reviews", headers=rerunner) for _ in range(8))
    )
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {202: 1, 409: 7}, [a.text for a in answers]
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"run-in-progress"}
    runs = await db.fetch("SELECT run, status FROM review_panel.panels WHERE slug = $1 ORDER BY run", slug)
    assert [(r["run"], r["status"]) for r in runs] == [(1, "complete"), (2, "running")]
    events = [json.loads(r["payload"]) for r in await db.fetch("SELECT payload FROM review_panel.outbox")]
    run_2_jobs = [
        e
        for e in events
        if e["type"] == ReviewRequested.TYPE and e["tool_slug"] == slug and e["panel_run"] == 2
    ]
    assert sorted(job["persona"] for job in run_2_jobs) == sorted(ROSTER.ids)  # one run's jobs, once


async def test_a_run_open_past_the_in_progress_bound_no_longer_blocks(client, panels, db, rerunner):
    slug = await known_tool(panels, db, 2, decided=False)
    await db.execute(
        "UPDATE review_panel.panels SET created_at = now() - interval '7 hours' WHERE slug = $1", slug
    )
    response = await client.post(f"/v1/admin/tools/{slug}/reviews", headers=rerunner)
    assert response.status_code == 202, response.text
    assert response.json()["run"] == 2


async def test_reruns_count_against_the_daily_quota(settings, panels, db, database_url):
    key = await grant(database_url, Scope.REVIEWS_RERUN, name="quota")
    admin = bearer(await grant(database_url, Scope.ADMIN, name="quota-admin"))
    slug = await known_tool(panels, db, 3)
    async with panel_api(settings.model_copy(update={"key_reruns_per_day": RERUNS_PER_DAY})) as client:
        path = f"/v1/admin/tools/{slug}/reviews"
        assert (await client.post(path, headers=bearer(key))).status_code == 202
        assert (await client.post(path, headers=bearer(key))).status_code == 409  # refused: not counted
        await decide(db, slug)
        for _ in range(RERUNS_PER_DAY - 1):
            assert (await client.post(path, headers=bearer(key))).status_code == 202
            await decide(db, slug)
        assert await reruns_counted(db, key) == RERUNS_PER_DAY

        spent = await client.post(path, headers=bearer(key))
        assert spent.status_code == 429, spent.text
        assert int(spent.headers["retry-after"]) >= 1
        assert await db.fetchval("SELECT max(run) FROM review_panel.panels WHERE slug = $1", slug) == 4

        assert (await client.post(path, headers=admin)).status_code == 202  # admin keys are not counted


async def test_reads_need_no_key(client, panels, db):
    slug = await known_tool(panels, db, 4)
    assert (await client.get(f"/v1/tools/{slug}/reviews")).status_code == 200
    assert (await client.get("/v1/personas")).status_code == 200
