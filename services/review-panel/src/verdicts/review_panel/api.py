"""review-panel's HTTP routes: reviews of a tool, the personas, an admin re-run."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from verdicts.platform.http import problem
from verdicts.review_panel import store
from verdicts.review_panel.reviewer import Reviewer


def build_routes(reviewer: Reviewer) -> list[HTTPRouteHandler]:
    @get("/v1/tools/{slug:str}/reviews")
    async def tool_reviews(request: Request[Any, Any, Any], slug: FromPath[str]) -> dict[str, Any]:
        """The latest panel with its reviews, and every earlier panel as history."""
        panels = await store.reviews_of(request.app.state.runtime.pool, slug)
        if not panels:
            raise problem(404, "not-found", "No reviews", f"no panel has reviewed {slug!r}", field="slug")
        return {"slug": slug, "latest": panels[0], "history": panels[1:]}

    @get("/v1/personas")
    async def personas() -> dict[str, Any]:
        return {
            "items": [
                {
                    "id": p.id,
                    "display_name": p.display_name,
                    "lens": p.lens,
                    "template_version": p.template_version,
                    "route": reviewer.assignment.get(p.id, p.default_route),
                    "rubric": p.rubric,
                }
                for p in reviewer.personas.values()
            ]
        }

    @post("/v1/admin/tools/{slug:str}/reviews", status_code=202)
    async def rerun(request: Request[Any, Any, Any], slug: FromPath[str]) -> dict[str, Any]:
        """Re-run the panel on the tool's latest version; the earlier runs stay as history."""
        pool = request.app.state.runtime.pool
        async with pool.acquire() as conn, conn.transaction():
            started = await store.rerun_panel(conn, slug, list(reviewer.personas))
        if started is None:
            raise problem(
                404, "not-found", "Unknown tool", f"review-panel has not seen {slug!r}", field="slug"
            )
        version, run = started
        return {"slug": slug, "version": version, "run": run, "status": "running"}

    return [tool_reviews, personas, rerun]
