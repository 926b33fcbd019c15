"""render's HTTP side: comparisons kept on request and read as JSON, the published pages served with
ETag and Last-Modified (304 when unchanged) and their security headers, and the site's assets.

Pages, assets and the comparison JSON are public. Keeping a comparison current (``POST
/v1/comparisons``) needs a ``reviews:rerun`` key and is capped per category; a pair only read at
``/compare/A-vs-B`` is rendered for its reader and never kept.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Literal

from litestar import Controller, Request, Response, Router, get, post
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from pydantic import BaseModel, ConfigDict, Field

from verdicts.contracts import Tool
from verdicts.platform.access.guards import PUBLIC, requires
from verdicts.platform.access.keys import Scope
from verdicts.platform.db import Conn
from verdicts.platform.deps import Caller, Injected, PoolDep
from verdicts.platform.http import json_body, problem
from verdicts.platform.openapi import problem_responses
from verdicts.render import store
from verdicts.render.config import RenderSettings
from verdicts.render.domain import (
    canonical_pair,
    comparison_path,
    etag_of,
    names_one_tool_twice,
    not_modified,
    page_file,
    pair_splits,
    parse_pair,
    unknown_in_pair,
)
from verdicts.render.pages import Output, Site
from verdicts.render.publisher import DirectoryPublisher
from verdicts.render.worker import TooManyPairs, UnknownTool, comparison_for_reader, keep_comparison

SLUG = r"^[a-z0-9][a-z0-9-]{0,79}$"
COMPARISON_BODY_LIMIT = 4096  # two slugs are under 200 bytes; nothing bigger is read
ASSETS = Path(__file__).parent / "assets"

CONTENT_TYPES = {
    ".html": "text/html",  # Litestar adds "; charset=utf-8" to text types
    ".json": "application/json",
    ".atom": "application/atom+xml",
    ".svg": "image/svg+xml",
}

PAGE_KINDS = (("tools", "slug"), ("categories", "category"), ("weekly", "week"))

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; worker-src 'self'; form-action 'self'; frame-ancestors 'self'; "
    "base-uri 'none'; object-src 'none'"
)
"""HTML pages: scripts and styles only from the site's own files (the JSON-LD block is data, not
script), forms post only to the site, framed only by the site."""

BADGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
"""Badges are SVG for other sites' <img>: an image runs no script; opened directly, it loads nothing."""

HEADERS_BY_SUFFIX = {
    ".html": {"Content-Security-Policy": PAGE_POLICY},
    ".svg": {"Content-Security-Policy": BADGE_POLICY, "Cross-Origin-Resource-Policy": "cross-origin"},
}
"""What a published file is answered with beside the platform's headers (API answers, JSON and the
feed keep the platform's strict policy)."""

PAGE_PATHS = [
    *(f"/{kind}/{{{name}:str}}{tail}" for kind, name in PAGE_KINDS for tail in ("", "/", "/index.json")),
    "/weekly/feed.atom",
    "/badges/{badge:str}",
]
"""Published pages (a page's JSON beside it), the weekly feed and the badges ("SLUG.svg")."""

PAGE_ANSWERS: dict[int, ResponseSpec] = {
    200: ResponseSpec(None, description="The page (text/html), its JSON, the Atom feed or an SVG badge"),
    304: ResponseSpec(None, description="The caller's copy (If-None-Match, If-Modified-Since) is current"),
    **problem_responses(404),
}


class ComparisonRequest(BaseModel):
    """Two known tools to compare (either order)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    a: str = Field(pattern=SLUG, description="A tool's slug")
    b: str = Field(pattern=SLUG, description="Another tool's slug")


class ComparisonAnswer(BaseModel):
    """Where the comparison is published (canonical order), and the pair as asked."""

    path: str = Field(description='The page, e.g. "/compare/alpha-vs-beta/"')
    a: str
    b: str
    added: bool = Field(description="Whether this request added the pair (false: it was kept already)")


class PanelFigures(BaseModel):
    """The tool's latest panel run."""

    version: int = Field(description="The tool version the panel judged")
    run: int
    ship: int
    skip: int
    failed: int
    ship_pct: float | None = Field(description="Ship share of the judged reviews, 0-100")
    partial: bool = Field(description="Some reviewers failed")


class CommunityFigures(BaseModel):
    """The community vote on the tool."""

    ship: int
    skip: int
    ship_pct: float | None
    low: float | None = Field(description="95% interval, low end")
    high: float | None = Field(description="95% interval, high end")
    provisional: bool = Field(description="Too few votes to count on")


class Review(BaseModel):
    """One reviewer's review of the tool, with its provenance."""

    persona: str
    persona_name: str
    persona_order: int | None
    status: str
    verdict: Literal["ship", "skip"] | None
    review: str | None
    key_points: list[str]
    confidence: float | None
    failure_reason: str | None
    model: str | None
    prompt_sha256: str | None
    reviewed_on: date
    route: str | None
    prompt_template_version: str | None
    route_note: str | None
    withheld_fields: list[str]


class ToolSide(BaseModel):
    """One side of the comparison: the tool, its panel, verdict, community vote and reviews."""

    tool: Tool
    version: int
    panel: PanelFigures | None
    verdict: Literal["ship", "skip"] | None = Field(description="The panel's call (ship at 50% or more)")
    community: CommunityFigures | None
    reviews: list[Review] = Field(description="In panel order")


class GapFigures(BaseModel):
    """Community ship % minus panel ship %."""

    points: float | None
    flagged: bool
    direction: str


class Judgement(BaseModel):
    status: str
    verdict: Literal["ship", "skip"] | None


class ScorecardRow(BaseModel):
    """A reviewer and how it judged each tool (null: no review of that tool)."""

    persona: str
    name: str
    a: Judgement | None
    b: Judgement | None


class SplitLine(BaseModel):
    persona: str
    verdict: Literal["ship", "skip"]
    key_point: str | None


class ComparisonDocument(BaseModel):
    """A comparison as its page shows it, from render's read model (canonical order: a < b)."""

    path: str = Field(description='The page, e.g. "/compare/alpha-vs-beta/"')
    url: str = Field(description="The page's public address")
    kept: bool = Field(description="Whether the comparison is kept current (a rival or requested)")
    a: ToolSide
    b: ToolSide
    pricing_read: str
    gaps: dict[str, GapFigures] = Field(description="By tool slug")
    scorecard: list[ScorecardRow] = Field(description="Reviewers in panel order")
    splits: dict[str, dict[str, list[SplitLine]]] = Field(description='By tool slug, then "ship"/"skip"')


def same_tool(field: str | None = None) -> Exception:
    detail = "a tool cannot be compared with itself"
    if field is None:
        return problem(422, "same-tool", "Same tool", detail)
    return problem(422, "same-tool", "Same tool", detail, field=field)


def unknown_tool(slug: str) -> Exception:
    return problem(404, "unknown-tool", "Unknown tool", f"no tool {slug!r} is known", field="tool")


def too_many_pairs(exc: TooManyPairs) -> Exception:
    return problem(
        409,
        "too-many-pairs",
        "Too many comparisons",
        f"the category {exc.category!r} already keeps {exc.limit} requested comparisons current",
        category=exc.category,
        limit=exc.limit,
    )


async def read_pair(conn: Conn, text: str) -> tuple[tuple[str, str] | None, str | None]:
    """The two known tools "a-vs-b" names (as written), else the slug that is not known."""
    candidates = {slug for split in pair_splits(text) for slug in split}
    known = await store.known_among(conn, candidates)
    found = parse_pair(text, known)
    if names_one_tool_twice(text, found):
        raise same_tool()
    return found, unknown_in_pair(text, known)


def answer(
    request: Request[Any, Any, Any], name: str, body: bytes, modified: datetime | None
) -> Response[bytes]:
    """A page's bytes with its ETag (and Last-Modified), its security headers, or 304 when the
    caller's copy is current."""
    suffix = "." + name.rsplit(".", 1)[-1]
    etag = etag_of(body)
    headers = {"ETag": etag, "Cache-Control": "no-cache", **HEADERS_BY_SUFFIX.get(suffix, {})}
    if modified is not None:
        headers["Last-Modified"] = format_datetime(modified, usegmt=True)
    since = request.headers.get("if-modified-since") if modified is not None else None
    if not_modified(request.headers.get("if-none-match"), since, etag, modified or datetime.now(UTC)):
        return Response(b"", status_code=304, headers=headers)
    return Response(body, media_type=CONTENT_TYPES.get(suffix, "application/octet-stream"), headers=headers)


def serve(request: Request[Any, Any, Any], publisher: DirectoryPublisher, path: str) -> Response[bytes]:
    """A published file, or a 404 problem."""
    path = page_file(path)
    try:
        file = publisher.resolve(path)
    except ValueError:
        raise problem(404, "not-found", "Not found", "no such page") from None
    if not file.is_file():
        raise problem(404, "not-found", "Not found", f"/{path} is not published")
    modified = datetime.fromtimestamp(int(file.stat().st_mtime), UTC)
    return answer(request, file.name, file.read_bytes(), modified)


def serve_rendered(request: Request[Any, Any, Any], outputs: list[Output], name: str) -> Response[bytes]:
    """A page rendered for this request only (a comparison nobody keeps)."""
    output = next(o for o in outputs if o.path.endswith(name))
    return answer(request, name, output.body, None)


class ComparisonController(Controller):
    path = "/v1/comparisons"
    tags = ["render"]

    @post(
        "/",
        guards=[requires(Scope.REVIEWS_RERUN), json_body],
        request_max_body_size=COMPARISON_BODY_LIMIT,
        status_code=201,
        responses=problem_responses(400, 404, 409, 413, 415, 422),
    )
    async def request_comparison(
        self,
        data: JSONBody[ComparisonRequest],
        caller: Caller,
        pool: PoolDep,
        site: Injected[Site],
        publisher: Injected[DirectoryPublisher],
        render_settings: Injected[RenderSettings],
    ) -> ComparisonAnswer:
        """Publish the comparison of two known tools and keep it current. Each category keeps at
        most VERDICTS_RENDER_MAX_PAIRS requested comparisons (409 ``too-many-pairs`` past it)."""
        if data.a == data.b:
            raise same_tool("b")
        try:
            path, added = await keep_comparison(
                pool,
                site,
                publisher,
                data.a,
                data.b,
                limit=render_settings.max_pairs,
                requested_by=caller.key_id,
            )
        except UnknownTool as exc:
            raise unknown_tool(exc.slug) from None
        except TooManyPairs as exc:
            raise too_many_pairs(exc) from None
        return ComparisonAnswer(path="/" + path, a=data.a, b=data.b, added=added)

    @get(
        "/{pair:str}",
        guards=[PUBLIC],
        responses={
            301: ResponseSpec(None, description="The pair in canonical order (a < b)"),
            **problem_responses(404, 422),
        },
    )
    async def comparison(
        self, pair: FromPath[str], pool: PoolDep, site: Injected[Site]
    ) -> Response[ComparisonDocument]:
        """The comparison of two known tools ("a-vs-b") as JSON: both tools with their panel,
        verdict, community vote and reviews, the scorecard, split, pricing read and gaps. The
        other order redirects to the canonical one (a < b)."""
        async with pool.acquire() as conn:
            found, unknown = await read_pair(conn, pair)
            if found is None:
                if unknown is None:
                    raise problem(
                        422,
                        "malformed-pair",
                        "Malformed pair",
                        'name two tools as "a-vs-b" (slugs: a-z, 0-9 and -)',
                        field="pair",
                    )
                raise unknown_tool(unknown)
            a, b = found
            if (a, b) != canonical_pair(a, b):
                return Redirect(f"/v1/comparisons/{b}-vs-{a}", status_code=301)
            data = await site.comparison_data(conn, a, b)
            kept = await store.kept(conn, a, b)
        if data is None:  # a tool was known a moment ago
            raise unknown_tool(a)
        return Response(ComparisonDocument.model_validate(data | {"kept": kept}))


class PageController(Controller):
    path = "/"
    tags = ["pages"]

    @get(
        ["/compare/{pair:str}", "/compare/{pair:str}/", "/compare/{pair:str}/index.json"],
        guards=[PUBLIC],
        responses={
            **PAGE_ANSWERS,
            301: ResponseSpec(None, description="The pair in canonical order (a < b)"),
            **problem_responses(422),
        },
    )
    async def comparison(
        self,
        request: Request[Any, Any, Any],
        pair: FromPath[str],
        pool: PoolDep,
        site: Injected[Site],
        publisher: Injected[DirectoryPublisher],
    ) -> Response[Any]:
        """A comparison page ("a-vs-b") or its JSON. A kept comparison (a rival, or requested) is
        served as published; any other pair of known tools is rendered for this reader and not
        kept. The other order redirects."""
        name = "index.json" if request.url.path.endswith("/index.json") else "index.html"
        async with pool.acquire() as conn:
            found, _ = await read_pair(conn, pair)
        if found is None:
            raise problem(
                404, "unknown-comparison", "Unknown comparison", f"{pair!r} does not name two known tools"
            )
        a, b = found
        if (a, b) != canonical_pair(a, b):
            suffix = name if name == "index.json" else ""
            return Redirect(f"/{comparison_path(a, b)}{suffix}", status_code=301)
        try:
            page = await comparison_for_reader(pool, site, publisher, a, b)
        except UnknownTool as exc:
            raise unknown_tool(exc.slug) from None
        if isinstance(page, str):
            return serve(request, publisher, page + name)
        return serve_rendered(request, page, name)

    @get(["/", "/index.json"], guards=[PUBLIC], responses=PAGE_ANSWERS)
    async def home(
        self,
        request: Request[Any, Any, Any],
        pool: PoolDep,
        site: Injected[Site],
        publisher: Injected[DirectoryPublisher],
    ) -> Response[bytes]:
        """The home page (latest comparisons and verdicts, categories, weekly issues) and its JSON.
        Before its first publication (an empty site) it is rendered for this reader: it says how to
        add tools, never a 404."""
        path = page_file(request.url.path.lstrip("/"))
        if publisher.resolve(path).is_file():
            return serve(request, publisher, path)
        async with pool.acquire() as conn:
            outputs = await site.home(conn)
        return serve_rendered(request, outputs, path)

    @get(PAGE_PATHS, guards=[PUBLIC], responses=PAGE_ANSWERS)
    async def page(
        self, request: Request[Any, Any, Any], publisher: Injected[DirectoryPublisher]
    ) -> Response[bytes]:
        """A published page: tools, categories, weekly issues and feed, badges."""
        return serve(request, publisher, request.url.path.lstrip("/"))


def assets() -> Router:
    """The site's stylesheet and scripts (pages load nothing from elsewhere)."""
    return create_static_files_router(
        path="/assets",
        directories=[ASSETS],
        guards=[PUBLIC],
        cache_control=CacheControlHeader(max_age=300, public=True),
        name="render-assets",
    )


def build_router(site: Site, publisher: DirectoryPublisher, settings: RenderSettings) -> Router:
    return Router(
        path="/",
        route_handlers=[ComparisonController, PageController, assets()],
        dependencies={
            "site": Provide(lambda: site, sync_to_thread=False),
            "publisher": Provide(lambda: publisher, sync_to_thread=False),
            "render_settings": Provide(lambda: settings, sync_to_thread=False),
        },
    )
