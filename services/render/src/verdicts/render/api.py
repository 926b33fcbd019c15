"""render's HTTP side: ask for a comparison, and the published pages served with ETag and
Last-Modified (304 when unchanged). Any pair of known tools renders on its first request."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect
from pydantic import BaseModel, ConfigDict, Field

from verdicts.platform.http import problem, read_json, validated
from verdicts.render import store
from verdicts.render.pages import Site, comparison_path, etag_of
from verdicts.render.publisher import DirectoryPublisher
from verdicts.render.views import canonical_pair, parse_pair
from verdicts.render.worker import publish_outputs

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
    model_config = ConfigDict(extra="forbid", frozen=True)

    a: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,79}$")
    b: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,79}$")


def build_routes(site: Site, publisher: DirectoryPublisher) -> list[HTTPRouteHandler]:
    def serve(request: Request[Any, Any, Any], path: str) -> Response[bytes]:
        if path == "" or path.endswith("/") or "." not in path.rsplit("/", 1)[-1]:
            path = path.rstrip("/") + "/index.html" if path else "index.html"
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
        if _not_modified(request, etag, modified):
            return Response(b"", status_code=304, headers=headers)
        suffix = "." + file.name.rsplit(".", 1)[-1]
        return Response(
            body, media_type=CONTENT_TYPES.get(suffix, "application/octet-stream"), headers=headers
        )

    async def ensure_comparison(request: Request[Any, Any, Any], a: str, b: str, reason: str) -> str:
        async with request.app.state.runtime.pool.acquire() as conn, conn.transaction():
            for slug in (a, b):
                if not await store.known(conn, slug):
                    raise problem(
                        404, "unknown-tool", "Unknown tool", f"no tool {slug!r} is known", field="tool"
                    )
            added = await store.add_pairs(conn, [(a, b)], reason)
            target = comparison_path(a, b)
            if added or not publisher.resolve(target + "index.html").exists():
                x, y = canonical_pair(a, b)
                await publish_outputs(conn, publisher, await site.comparison(conn, x, y))
        return target

    @post("/v1/comparisons", request_max_body_size=None)
    async def request_comparison(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
        """Publish (and keep current) the comparison of two known tools."""
        raw = await read_json(request, max_bytes=4096)
        pair = validated(ComparisonRequest, raw, "Invalid comparison")
        if pair.a == pair.b:
            raise problem(422, "same-tool", "Same tool", "a tool cannot be compared with itself", field="b")
        path = await ensure_comparison(request, pair.a, pair.b, "requested")
        return Response({"path": "/" + path, "a": pair.a, "b": pair.b}, status_code=201)

    @get(["/compare/{pair:str}", "/compare/{pair:str}/"])
    async def comparison(request: Request[Any, Any, Any], pair: FromPath[str]) -> Response[Any]:
        async with request.app.state.runtime.pool.acquire() as conn:
            slugs = await store.slugs(conn)
        found = parse_pair(pair, slugs)
        first, sep, second = pair.partition("-vs-")
        if (found and found[0] == found[1]) or (sep and first == second):
            raise problem(422, "same-tool", "Same tool", "a tool cannot be compared with itself")
        if found is None:
            raise problem(
                404, "unknown-comparison", "Unknown comparison", f"{pair!r} does not name two known tools"
            )
        a, b = found
        if (a, b) != canonical_pair(a, b):
            return Redirect(f"/{comparison_path(a, b)}", status_code=301)
        path = await ensure_comparison(request, a, b, "on-demand")
        return serve(request, path)

    @get(["/", "/index.json"])
    async def home(request: Request[Any, Any, Any]) -> Response[bytes]:
        return serve(request, request.url.path.lstrip("/"))

    @get(PAGE_PATHS)
    async def page(request: Request[Any, Any, Any]) -> Response[bytes]:
        return serve(request, request.url.path.lstrip("/"))

    return [request_comparison, comparison, home, page]


def _not_modified(request: Request[Any, Any, Any], etag: str, modified: datetime) -> bool:
    if (match := request.headers.get("if-none-match")) is not None:
        return etag in [m.strip() for m in match.split(",")] or match.strip() == "*"
    if (since := request.headers.get("if-modified-since")) is not None:
        try:
            return modified <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False
