"""review-panel's HTTP API: a tool's reviews by panel run, the personas, a re-run on demand.

Reads are public; a re-run needs a ``reviews:rerun`` key, counts against the key's daily quota and
is refused (409) while a run of the tool is in progress. Bodies are refused past ``BODY_LIMIT``
while they are read (only the re-run takes one, and it is empty).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Router, get, post
from litestar.di import Provide
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED
from pydantic import BaseModel, ConfigDict

from verdicts.contracts import Choice, Provenance, ReviewStatus
from verdicts.platform.access.guards import PUBLIC, requires, settle, spend
from verdicts.platform.access.keys import Scope
from verdicts.platform.deps import Caller, Injected, PoolDep, RuntimeDep
from verdicts.platform.http import problem
from verdicts.platform.openapi import problem_responses
from verdicts.review_panel import store
from verdicts.review_panel.config import PanelSettings
from verdicts.review_panel.domain import PanelStatus, Rerun
from verdicts.review_panel.panels import PanelBook
from verdicts.review_panel.personas import Roster

BODY_LIMIT = 1024  # the only body is the re-run's empty one; anything larger is refused
RERUNS_QUOTA = "reruns"


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


class RerunRequest(BaseModel):
    """A re-run takes no options yet: send nothing, or ``{}``."""

    model_config = ConfigDict(extra="forbid")


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

    @get("/{slug:str}/reviews", guards=[PUBLIC], responses=problem_responses(404))
    async def tool_reviews(self, slug: FromPath[str], pool: PoolDep) -> ToolReviews:
        """The latest panel with its reviews, and every earlier panel as history."""
        runs = [panel_run(entry) for entry in await store.reviews_of(pool, slug)]
        if not runs:
            raise problem(404, "not-found", "No reviews", f"no panel has reviewed {slug!r}", field="slug")
        return ToolReviews(slug=slug, latest=runs[0], history=runs[1:])


class PersonaController(Controller):
    path = "/v1/personas"
    tags = ["review-panel"]

    @get("/", guards=[PUBLIC])
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

    @post(
        "/{slug:str}/reviews",
        guards=[requires(Scope.REVIEWS_RERUN)],
        status_code=HTTP_202_ACCEPTED,
        responses=problem_responses(400, 404, 409, 413),
    )
    async def rerun(
        self,
        slug: FromPath[str],
        panels: Injected[PanelBook],
        config: Injected[PanelSettings],
        runtime: RuntimeDep,
        caller: Caller,
        data: JSONBody[RerunRequest | None] = None,
    ) -> RunStarted:
        """Re-run the panel on the tool's latest version; the earlier runs stay as history.

        Refused while a run of the tool is in progress (409); counts against the key's daily
        re-runs only when a run starts."""
        await spend(runtime, caller, RERUNS_QUOTA, 1, runtime.settings.key_reruns_per_day)
        rerun: Rerun | None = None
        try:
            rerun = await panels.rerun(slug, config.run_in_progress_max_s)
        finally:
            if rerun is None or not rerun.started:
                await settle(runtime, caller, RERUNS_QUOTA, 1, 0)
        if rerun is None:
            raise problem(
                404, "not-found", "Unknown tool", f"review-panel has not seen {slug!r}", field="slug"
            )
        if not rerun.started:
            raise problem(
                409,
                "run-in-progress",
                "Run in progress",
                f"run {rerun.run} of {slug!r} v{rerun.version} is still in progress; re-run it once "
                "it is decided",
                field="slug",
                version=rerun.version,
                run=rerun.run,
            )
        return RunStarted(slug=slug, version=rerun.version, run=rerun.run)


def build_router(roster: Roster, settings: PanelSettings) -> Router:
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
            "config": Provide(lambda: settings, sync_to_thread=False),
        },
    )
