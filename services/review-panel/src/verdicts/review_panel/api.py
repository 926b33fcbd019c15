"""review-panel's HTTP API: a tool's reviews by panel run, the personas, an admin re-run.

No route takes a body: each refuses one over ``BODY_LIMIT`` while it is read.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Router, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.status_codes import HTTP_202_ACCEPTED
from pydantic import BaseModel

from verdicts.contracts import Choice, Provenance, ReviewStatus
from verdicts.platform.deps import Injected, PoolDep
from verdicts.platform.http import problem
from verdicts.review_panel import store
from verdicts.review_panel.domain import PanelStatus
from verdicts.review_panel.panels import PanelBook
from verdicts.review_panel.personas import Roster

BODY_LIMIT = 1024  # no route here reads a body; anything sent is refused past this


class Review(BaseModel):
    """One persona's review: completed with a verdict, or failed with its reason."""

    persona: str
    verdict: Choice | None
    review: str | None
    key_points: list[str]
    confidence: float | None
    status: ReviewStatus
    failure_reason: str | None
    route_note: str | None
    withheld_fields: list[str]
    provenance: Provenance | None


class PanelSummary(BaseModel):
    """A panel run's state and, once decided, its tally (``partial`` when a reviewer failed)."""

    status: PanelStatus
    ship: int | None
    skip: int | None
    failed: int | None
    ship_pct: float | None
    partial: bool
    personas: list[str]
    created_at: str
    completed_at: str | None


class PanelRun(BaseModel):
    version: int
    run: int
    panel: PanelSummary
    reviews: list[Review]


class ToolReviews(BaseModel):
    """The latest panel run of a tool, and every earlier one (newest first) as history."""

    slug: str
    latest: PanelRun
    history: list[PanelRun]


class PersonaCard(BaseModel):
    id: str
    display_name: str
    lens: str
    template_version: str
    route: str
    rubric: str


class PersonaList(BaseModel):
    items: list[PersonaCard]


class RunStarted(BaseModel):
    slug: str
    version: int
    run: int
    status: str = "running"


def panel_run(entry: dict[str, Any]) -> PanelRun:
    """A stored panel run (``store.reviews_of``) as its answer."""
    panel = entry["panel"]
    return PanelRun.model_validate(
        {**entry, "panel": {**panel, "partial": panel["status"] == PanelStatus.PARTIAL}}
    )


class ReviewController(Controller):
    path = "/v1/tools"
    tags = ["review-panel"]

    @get("/{slug:str}/reviews")
    async def tool_reviews(self, slug: FromPath[str], pool: PoolDep) -> ToolReviews:
        """The latest panel with its reviews, and every earlier panel as history."""
        runs = [panel_run(entry) for entry in await store.reviews_of(pool, slug)]
        if not runs:
            raise problem(404, "not-found", "No reviews", f"no panel has reviewed {slug!r}", field="slug")
        return ToolReviews(slug=slug, latest=runs[0], history=runs[1:])


class PersonaController(Controller):
    path = "/v1/personas"
    tags = ["review-panel"]

    @get("/")
    async def personas(self, roster: Injected[Roster]) -> PersonaList:
        """The panel's personas in order, each with the route its reviews run on."""
        return PersonaList(
            items=[
                PersonaCard(
                    id=p.id,
                    display_name=p.display_name,
                    lens=p.lens,
                    template_version=p.template_version,
                    route=roster.route(p),
                    rubric=p.rubric,
                )
                for p in roster.personas
            ]
        )


class AdminController(Controller):
    path = "/v1/admin/tools"
    tags = ["review-panel"]

    @post("/{slug:str}/reviews", status_code=HTTP_202_ACCEPTED)
    async def rerun(self, slug: FromPath[str], panels: Injected[PanelBook]) -> RunStarted:
        """Re-run the panel on the tool's latest version; the earlier runs stay as history."""
        started = await panels.rerun(slug)
        if started is None:
            raise problem(
                404, "not-found", "Unknown tool", f"review-panel has not seen {slug!r}", field="slug"
            )
        version, run = started
        return RunStarted(slug=slug, version=version, run=run)


def build_router(roster: Roster) -> Router:
    """review-panel's routes, with the panel's roster and its panels on the shared pool."""

    def panel_book(pool: PoolDep) -> PanelBook:
        return PanelBook(pool, roster)

    return Router(
        path="/",
        route_handlers=[ReviewController, PersonaController, AdminController],
        request_max_body_size=BODY_LIMIT,
        dependencies={
            "roster": Provide(lambda: roster, sync_to_thread=False),
            "panels": Provide(panel_book, sync_to_thread=False),
        },
    )
