"""ingest's HTTP routes (thin): parse, validate, call the store, answer."""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from pydantic import ValidationError

from verdicts.ingest import store
from verdicts.ingest.config import IngestSettings
from verdicts.ingest.domain import ToolSubmission, match_category, to_tool, untrusted_fields
from verdicts.platform.http import field_errors, problem, read_json


class Rejected(Exception):
    """An item that will not be stored, with its problem."""

    def __init__(self, status: int, code: str, detail: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.errors = status, code, detail, errors

    def as_problem(self) -> Exception:
        first = self.errors[0]["field"] if self.errors else None
        return problem(self.status, self.code, "Tool rejected", self.detail, field=first, errors=self.errors)

    def as_result(self) -> dict[str, Any]:
        return {"status": "rejected", "code": self.code, "detail": self.detail, "errors": self.errors}


def _pool(request: Request[Any, Any, Any]) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.runtime.pool
    return pool


def validate(item: Any, known_categories: list[str]) -> ToolSubmission:
    if not isinstance(item, dict):
        raise Rejected(
            422,
            "validation-failed",
            "a tool must be a JSON object",
            [{"field": "body", "message": "must be an object"}],
        )
    try:
        submission = ToolSubmission.model_validate(item)
    except ValidationError as exc:
        errors = field_errors(exc)
        raise Rejected(
            422, "validation-failed", f"invalid field {errors[0]['field']}: {errors[0]['message']}", errors
        ) from None
    if match_category(submission.category, known_categories) is None:
        raise Rejected(
            422,
            "unknown-category",
            f"unknown category {submission.category!r}",
            [{"field": "category", "message": "unknown category", "known": known_categories}],
        )
    return submission


async def save(
    pool: asyncpg.Pool, submission: ToolSubmission, known: list[str], *, trust_model_family: bool
) -> store.Saved:
    category = match_category(submission.category, known)
    assert category is not None
    tool = to_tool(submission, category=category, trust_model_family=trust_model_family)
    try:
        async with pool.acquire() as conn, conn.transaction():
            return await store.save_tool(conn, tool)
    except store.SlugTaken as exc:
        raise Rejected(
            409,
            "slug-taken",
            f"the slug {exc.slug!r} already belongs to another tool by {exc.holder!r}",
            [{"field": "name", "message": "another tool already has this slug"}],
        ) from None


def ignored(fields: list[str]) -> dict[str, Any]:
    """What an answer says about submitted fields that were not kept (nothing when none)."""
    if not fields:
        return {}
    return {"ignored": fields, "note": f"{', '.join(fields)}: kept only from trusted submitters"}


def build_routes(settings: IngestSettings) -> list[HTTPRouteHandler]:
    category_cache = store.CategoryCache()
    trusted = settings.trust_model_family

    @post("/v1/tools", request_max_body_size=None)
    async def create_tool(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        """Announce one tool: 201 when new, 200 when updated or unchanged."""
        body = await read_json(request, max_bytes=settings.max_body_bytes)
        pool = _pool(request)
        known = await category_cache.get(pool)
        try:
            submission = validate(body, known)
            saved = await save(pool, submission, known, trust_model_family=trusted)
        except Rejected as rejected:
            raise rejected.as_problem() from None
        tool = saved.tool.model_dump(mode="json") | {"version": saved.version}
        status = HTTP_201_CREATED if saved.outcome is store.Outcome.ACCEPTED else HTTP_200_OK
        result = {"status": saved.outcome.value, "slug": saved.slug, "version": saved.version, "tool": tool}
        return Response(
            result | ignored(untrusted_fields(submission, trust_model_family=trusted)), status_code=status
        )

    @post("/v1/tools/batch", request_max_body_size=None, status_code=HTTP_200_OK)
    async def create_tools(request: Request[Any, Any, Any]) -> dict[str, Any]:
        """Announce a JSON list of tools; each item gets its own result, good ones are stored."""
        body = await read_json(request, max_bytes=settings.max_body_bytes)
        if not isinstance(body, list):
            raise problem(
                422,
                "validation-failed",
                "Batch rejected",
                "the body must be a JSON list of tools",
                field="body",
            )
        if len(body) > settings.max_batch_items:
            raise problem(
                422,
                "batch-too-large",
                "Batch rejected",
                f"a batch holds at most {settings.max_batch_items} tools (got {len(body)})",
                field="body",
                limit=settings.max_batch_items,
            )
        pool = _pool(request)
        known = await category_cache.get(pool)
        results: list[dict[str, Any]] = []
        summary = {"accepted": 0, "updated": 0, "unchanged": 0, "rejected": 0}
        for index, item in enumerate(body):
            try:
                submission = validate(item, known)
                saved = await save(pool, submission, known, trust_model_family=trusted)
            except Rejected as rejected:
                results.append({"index": index, **rejected.as_result()})
                summary["rejected"] += 1
                continue
            results.append(
                {"index": index, "status": saved.outcome.value, "slug": saved.slug, "version": saved.version}
                | ignored(untrusted_fields(submission, trust_model_family=trusted))
            )
            summary[saved.outcome.value] += 1
        return {"results": results, "summary": summary}

    @get("/v1/tools")
    async def list_tools(
        request: Request[Any, Any, Any],
        category: FromQuery[str | None] = None,
        vendor: FromQuery[str | None] = None,
        q: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = 50,
    ) -> dict[str, Any]:
        """Tools by slug, filtered by category, vendor or text; ``next_cursor`` pages on."""
        if not 1 <= limit <= settings.page_size_max:
            raise problem(
                400,
                "bad-parameter",
                "Bad parameter",
                f"limit must be 1..{settings.page_size_max}",
                field="limit",
            )
        try:
            items, next_cursor = await store.list_tools(
                _pool(request), limit=limit, cursor=cursor, category=category, vendor=vendor, text=q
            )
        except store.BadCursor:
            raise problem(
                400, "bad-parameter", "Bad parameter", "cursor is not one this API issued", field="cursor"
            ) from None
        return {"items": items, "next_cursor": next_cursor}

    @get("/v1/tools/{slug:str}")
    async def get_tool(request: Request[Any, Any, Any], slug: FromPath[str]) -> dict[str, Any]:
        tool = await store.get_tool(_pool(request), slug)
        if tool is None:
            raise problem(404, "not-found", "Tool not found", f"no tool with slug {slug!r}", field="slug")
        return tool

    @get("/v1/categories")
    async def list_categories(request: Request[Any, Any, Any]) -> dict[str, Any]:
        return {"items": await store.categories(_pool(request))}

    return [create_tool, create_tools, list_tools, get_tool, list_categories]
