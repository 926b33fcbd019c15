"""review-panel's HTTP API on a bare Litestar app: the roster and a stand-in pool, no server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from verdicts.platform.access.guards import caller
from verdicts.platform.http import validation_problem
from verdicts.platform.service import build_runtime
from verdicts.platform.settings import PlatformSettings
from verdicts.review_panel.api import BODY_LIMIT, build_router
from verdicts.review_panel.config import PanelSettings
from verdicts.review_panel.personas import load_roster

pytestmark = pytest.mark.unit

AT = datetime(2026, 12, 1, 7, 30, tzinfo=UTC)
PROVENANCE = {
    "route": "local",
    "backend": "openai",
    "model": "m",
    "prompt_template_version": "v1",
    "prompt_sha256": "0" * 64,
    "schema_version": "verdict-v2",
    "temperature": 0.3,
    "seed": 1,
    "tokens_in": 10,
    "tokens_out": 20,
    "cost_usd": "0.001",
    "latency_ms": 5.0,
    "withheld_passages": 0,
}

RUNS = ((2, "running", None, None, None), (1, "partial", 0, 1, 0.0))


class StandInPool(asyncpg.Pool):  # routes take the pool as it is, if it is a pool
    """Answers ``store.reviews_of``'s two queries: one tool with two panel runs."""

    def __init__(self) -> None:  # no connections
        pass

    async def fetch(self, sql: str, slug: str) -> list[dict[str, Any]]:
        if slug != "smollm3":
            return []
        if ".panels" in sql:
            return [
                {
                    "version": 1,
                    "run": run,
                    "status": status,
                    "ship": ship,
                    "skip": 1 if ship is not None else None,
                    "failed": failed,
                    "ship_pct": pct,
                    "personas": ["buyer", "thesis"],
                    "created_at": AT,
                    "completed_at": AT if ship is not None else None,
                }
                for run, status, ship, failed, pct in (
                    (2, "running", None, None, None),
                    (1, "partial", 0, 1, 0.0),
                )
            ]
        return [
            {
                "version": 1,
                "run": 1,
                "persona": "buyer",
                "verdict": "skip",
                "review": "SmolLM3 ...",
                "key_points": '["a point"]',
                "confidence": 0.65,
                "status": "completed",
                "failure_reason": None,
                "route_note": None,
                "withheld_fields": ["tags"],
                "provenance": json.dumps(PROVENANCE),
            },
            {
                "version": 1,
                "run": 1,
                "persona": "thesis",
                "verdict": None,
                "review": None,
                "key_points": "[]",
                "confidence": None,
                "status": "failed",
                "failure_reason": "grounding failed twice: x",
                "route_note": None,
                "withheld_fields": [],
                "provenance": None,
            },
        ]


@pytest.fixture
async def api():
    roster = load_roster()
    pool = StandInPool()
    # What build_app adds around every service's routes, with a runtime that is never started: the
    # public reads' per-address limiter is all the read routes ask of it.
    runtime = build_runtime([], PlatformSettings())
    app = Litestar(
        route_handlers=[build_router(roster, PanelSettings())],
        plugins=[ProblemDetailsPlugin(ProblemDetailsConfig(enable_for_all_http_exceptions=True))],
        exception_handlers={ValidationException: validation_problem},
        dependencies={
            "pool": Provide(lambda: pool, sync_to_thread=False),
            "runtime": Provide(lambda: runtime, sync_to_thread=False),
            "caller": Provide(caller, sync_to_thread=False),
        },
    )
    app.state.runtime = runtime
    async with AsyncTestClient(app) as client:
        yield client


async def test_personas_are_listed_in_panel_order_with_their_routes(api):
    items = (await api.get("/v1/personas")).json()["items"]
    assert [p["id"] for p in items] == ["developer-experience", "category-skeptic", "thesis", "buyer"]
    assert all(p["route"] == "local" for p in items)
    assert set(items[0]) == {"id", "display_name", "lens", "template_version", "route", "rubric"}


async def test_a_tools_reviews_are_the_latest_run_and_its_history(api):
    body = (await api.get("/v1/tools/smollm3/reviews")).json()
    assert body["slug"] == "smollm3"
    assert (body["latest"]["run"], body["latest"]["panel"]["status"], body["latest"]["reviews"]) == (
        2,
        "running",
        [],
    )
    [earlier] = body["history"]
    assert earlier["panel"] == {
        "status": "partial",
        "ship": 0,
        "skip": 1,
        "failed": 1,
        "ship_pct": 0.0,
        "partial": True,
        "personas": ["buyer", "thesis"],
        "created_at": AT.isoformat(),
        "completed_at": AT.isoformat(),
    }
    buyer, thesis = earlier["reviews"]
    assert buyer == {
        "persona": "buyer",
        "verdict": "skip",
        "review": "SmolLM3 ...",
        "key_points": ["a point"],
        "confidence": 0.65,
        "status": "completed",
        "failure_reason": None,
        "route_note": None,
        "withheld_fields": ["tags"],
        "provenance": PROVENANCE,
    }
    assert (thesis["status"], thesis["verdict"], thesis["provenance"]) == ("failed", None, None)


async def test_a_tool_without_a_panel_is_a_404_problem(api):
    response = await api.get("/v1/tools/nope/reviews")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "not-found"


def test_every_route_has_a_body_limit():
    app = Litestar(
        route_handlers=[build_router(load_roster(), PanelSettings())],
        dependencies={
            "pool": Provide(StandInPool, sync_to_thread=False),
            "runtime": Provide(lambda: None, sync_to_thread=False),
            "caller": Provide(caller, sync_to_thread=False),
        },
    )
    limits = {
        (route.path, handler.handler_name): handler.resolve_request_max_body_size()
        for route in app.routes
        if isinstance(route, HTTPRoute) and not route.path.startswith("/schema")
        for handler in route.route_handlers
        if "OPTIONS" not in handler.http_methods
    }
    assert len(limits) == 3
    assert set(limits.values()) == {BODY_LIMIT}


async def test_openapi_describes_every_answer(api):
    schema = (await api.get("/schema/openapi.json")).json()
    components = set(schema["components"]["schemas"])
    assert {"ToolReviews", "PanelRun", "Review", "PersonaList", "RunStarted"} <= components
    rerun = schema["paths"]["/v1/admin/tools/{slug}/reviews"]["post"]
    assert "202" in rerun["responses"]
    assert {"404", "409"} <= set(rerun["responses"])
    assert "requestBody" in rerun
