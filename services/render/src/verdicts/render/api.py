"""render's HTTP side: ask for a comparison, and the published pages served with ETag and
Last-Modified (304 when unchanged). Any pair of known tools renders on its first request."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from litestar import Controller, Request, Response, Router, get, post
from litestar.di import Provide
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect
from pydantic import BaseModel, ConfigDict, Field

from verdicts.platform.deps import Injected, PoolDep
from verdicts.platform.http import json_body, problem
from verdicts.render import store
from verdicts.render.domain import (
    canonical_pair,
    comparison_path,
    etag_of,
    names_one_tool_twice,
    not_modified,
    page_file,
    parse_pair,
)
from verdicts.render.pages import Site
from verdicts.render.publisher import DirectoryPublisher
from verdicts.render.worker import UnknownTool, publish_comparison

SLUG = r"^[a-z0-9][a-z0-9-]{0,79}$"
COMPARISON_BODY_LIMIT = 4096  # two slugs are under 200 bytes; nothing bigger is read

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".atom": "application/atom+xml",
    ".svg": "image/svg+xml",
}

PAGE_PATHS = [
    "/compare/{pair:str}/index.json",
    "/tools/{rest:path}",
    "/categories/{rest:path}",
    "/weekly/{rest:path}",
    "/badges/{rest:path}",
]


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


def same_tool(field: str | None = None) -> Exception:
    detail = "a tool cannot be compared with itself"
    if field is None:
        return problem(422, "same-tool", "Same tool", detail)
    return problem(422, "same-tool", "Same tool", detail, field=field)


def unknown_tool(slug: str) -> Exception:
    return problem(404, "unknown-tool", "Unknown tool", f"no tool {slug!r} is known", field="tool")


def serve(request: Request[Any, Any, Any], publisher: DirectoryPublisher, path: str) -> Response[bytes]:
    """A published file with its ETag and Last-Modified, or 304 when the caller's copy is current."""
    path = page_file(path)
    try:
        file = publisher.resolve(path)
    except ValueError:
        raise problem(404, "not-found", "Not found", "no such page") from None
    if not file.is_file():
        raise problem(404, "not-found", "Not found", f"/{path} is not published")
    body = file.read_bytes()
    etag = etag_of(body)
    modified = datetime.fromtimestamp(int(file.stat().st_mtime), UTC)
    headers = {
        "ETag": etag,
        "Last-Modified": format_datetime(modified, usegmt=True),
        "Cache-Control": "no-cache",
    }
    if not_modified(
        request.headers.get("if-none-match"), request.headers.get("if-modified-since"), etag, modified
    ):
        return Response(b"", status_code=304, headers=headers)
    suffix = "." + file.name.rsplit(".", 1)[-1]
    return Response(body, media_type=CONTENT_TYPES.get(suffix, "application/octet-stream"), headers=headers)


class ComparisonController(Controller):
    path = "/v1/comparisons"
    tags = ["render"]

    @post("/", guards=[json_body], request_max_body_size=COMPARISON_BODY_LIMIT, status_code=201)
    async def request_comparison(
        self,
        data: JSONBody[ComparisonRequest],
        pool: PoolDep,
        site: Injected[Site],
        publisher: Injected[DirectoryPublisher],
    ) -> ComparisonAnswer:
        """Publish (and keep current) the comparison of two known tools."""
        if data.a == data.b:
            raise same_tool("b")
        try:
            path = await publish_comparison(pool, site, publisher, data.a, data.b, "requested")
        except UnknownTool as exc:
            raise unknown_tool(exc.slug) from None
        return ComparisonAnswer(path="/" + path, a=data.a, b=data.b)


class PageController(Controller):
    path = "/"
    tags = ["pages"]

    @get(["/compare/{pair:str}", "/compare/{pair:str}/"])
    async def comparison(
        self,
        request: Request[Any, Any, Any],
        pair: FromPath[str],
        pool: PoolDep,
        site: Injected[Site],
        publisher: Injected[DirectoryPublisher],
    ) -> Response[Any]:
        """A comparison page ("a-vs-b"), rendered on its first request; the other order redirects."""
        async with pool.acquire() as conn:
            slugs = await store.slugs(conn)
        found = parse_pair(pair, slugs)
        if names_one_tool_twice(pair, found):
            raise same_tool()
        if found is None:
            raise problem(
                404, "unknown-comparison", "Unknown comparison", f"{pair!r} does not name two known tools"
            )
        a, b = found
        if (a, b) != canonical_pair(a, b):
            return Redirect(f"/{comparison_path(a, b)}", status_code=301)
        try:
            path = await publish_comparison(pool, site, publisher, a, b, "on-demand")
        except UnknownTool as exc:
            raise unknown_tool(exc.slug) from None
        return serve(request, publisher, path)

    @get(["/", "/index.json"])
    async def home(
        self, request: Request[Any, Any, Any], publisher: Injected[DirectoryPublisher]
    ) -> Response[bytes]:
        """The home page (latest verdicts, categories, weekly issues) and its JSON."""
        return serve(request, publisher, request.url.path.lstrip("/"))

    @get(PAGE_PATHS)
    async def page(
        self, request: Request[Any, Any, Any], publisher: Injected[DirectoryPublisher]
    ) -> Response[bytes]:
        """A published page: tools, categories, weekly issues and feed, badges, comparison JSON."""
        return serve(request, publisher, request.url.path.lstrip("/"))


def build_router(site: Site, publisher: DirectoryPublisher) -> Router:
    return Router(
        path="/",
        route_handlers=[ComparisonController, PageController],
        dependencies={
            "site": Provide(lambda: site, sync_to_thread=False),
            "publisher": Provide(lambda: publisher, sync_to_thread=False),
        },
    )
