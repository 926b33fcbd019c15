"""ingest's HTTP API: announce one tool or a batch, list and read tools, list categories.

Thin: Litestar validates typed bodies (and refuses any over VERDICTS_INGEST_MAX_BODY_BYTES while
reading), ``catalogue`` announces, refusals are problem+json answers. Reads are public; announcing
needs a ``tools:write`` key bound to the tools' vendor, and counts against the key's daily quota.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from litestar import Controller, Response, Router, get, post
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer

from verdicts.contracts import Tool
from verdicts.ingest import store
from verdicts.ingest.catalogue import Catalogue, Draft, Saved
from verdicts.ingest.config import IngestSettings
from verdicts.ingest.domain import Outcome, Rejection, ToolSubmission, ignored, writes
from verdicts.platform.access.guards import PUBLIC, requires, settle, spend
from verdicts.platform.access.keys import ApiKey, Scope
from verdicts.platform.deps import Caller, Injected, PoolDep, RuntimeDep
from verdicts.platform.http import json_body, problem
from verdicts.platform.openapi import problem_responses
from verdicts.platform.service import Runtime

# Any other rejection is a 422.
STATUS_BY_CODE = {"slug-taken": 409, "not-your-vendor": 403, "not-your-tool": 403}
TOOLS_QUOTA = "tools"


class _Answer(BaseModel):
    """An answer whose absent parts (None) are left out rather than sent as null."""

    @model_serializer(mode="wrap")
    def _present(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


class StoredTool(Tool):
    """A tool as ingest keeps it, with its current version."""

    version: int


class ToolRecord(StoredTool):
    """A stored tool with when it was first announced and last changed (ISO 8601)."""

    created_at: str
    updated_at: str


class Announced(_Answer):
    status: Outcome
    slug: str
    version: int
    tool: StoredTool
    ignored: list[str] | None = None
    note: str | None = None


class ItemResult(_Answer):
    """One batch item's result: stored (with slug and version) or rejected (with why)."""

    index: int
    status: Literal["accepted", "updated", "unchanged", "rejected"]
    slug: str | None = None
    version: int | None = None
    ignored: list[str] | None = None
    note: str | None = None
    code: str | None = None
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


class Summary(BaseModel):
    accepted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0


class BatchAnswer(BaseModel):
    results: list[ItemResult]
    summary: Summary


class ToolPage(BaseModel):
    items: list[ToolRecord]
    next_cursor: str | None


class Categories(BaseModel):
    items: list[str]


BatchBody = Annotated[
    list[Any],
    Body(
        title="Tools",
        description="A JSON list of tools, each as POST /v1/tools takes one; each item is validated "
        "and stored on its own",
        schema_extra={"items": {"$ref": "#/components/schemas/ToolSubmission"}},
    ),
]


def rejected(rejection: Rejection, title: str = "Tool rejected") -> ProblemDetailsException:
    """A rejection as problem+json: 403 for another vendor's tool, 409 for a taken slug, else 422."""
    return problem(
        STATUS_BY_CODE.get(rejection.code, 422),
        rejection.code,
        title,
        rejection.detail,
        field=rejection.field,
        errors=rejection.errors,
        **rejection.extra,
    )


@dataclass
class Reservation:
    """Tools reserved on a key's daily quota; ``stored`` is how many were, the rest is refunded."""

    count: int
    stored: int = 0


@asynccontextmanager
async def tools_reserved(runtime: Runtime, caller: ApiKey, count: int) -> AsyncIterator[Reservation]:
    """Reserve ``count`` tools before storing any (429 when over the quota), and refund what was
    not stored (rejected, or unchanged: only tools written count)."""
    reservation = Reservation(count)
    if count:
        await spend(runtime, caller, TOOLS_QUOTA, count, runtime.settings.key_tools_per_day)
    try:
        yield reservation
    finally:
        if count:
            await settle(runtime, caller, TOOLS_QUOTA, count, reservation.stored)


def item_result(index: int, result: Saved | Rejection) -> ItemResult:
    """A batch item's outcome as its answer, at its index."""
    if isinstance(result, Rejection):
        return ItemResult.model_validate({"index": index, **result.as_result()})
    return ItemResult.model_validate(
        {"index": index, "status": result.outcome.value, "slug": result.slug, "version": result.version}
        | ignored(result.ignored)
    )


class ToolController(Controller):
    path = "/v1/tools"
    tags = ["ingest"]

    @post(
        "/",
        guards=[requires(Scope.TOOLS_WRITE), json_body],
        status_code=HTTP_201_CREATED,
        responses={
            HTTP_200_OK: ResponseSpec(Announced, description="Updated, or unchanged"),
            **problem_responses(400, 409, 413, 415, 422),
        },
    )
    async def create_tool(
        self,
        data: JSONBody[ToolSubmission],
        catalogue: Injected[Catalogue],
        pool: PoolDep,
        runtime: RuntimeDep,
        caller: Caller,
    ) -> Response[Announced]:
        """Announce one tool of a vendor the key is bound to: 201 when new, 200 when updated or
        unchanged."""
        try:
            draft = await catalogue.draft(pool, data, caller.owns_vendor)
            async with tools_reserved(runtime, caller, 1) as reservation:
                saved = await catalogue.store(pool, draft, caller.owns_vendor)
                reservation.stored = int(writes(saved.outcome))
        except Rejection as rejection:
            raise rejected(rejection) from None
        answer = Announced.model_validate(
            {
                "status": saved.outcome,
                "slug": saved.slug,
                "version": saved.version,
                "tool": StoredTool(**saved.tool.model_dump(), version=saved.version),
            }
            | ignored(saved.ignored)
        )
        status = HTTP_201_CREATED if saved.outcome is Outcome.ACCEPTED else HTTP_200_OK
        return Response(answer, status_code=status)

    @post(
        "/batch",
        guards=[requires(Scope.TOOLS_WRITE), json_body],
        status_code=HTTP_200_OK,
        responses=problem_responses(400, 413, 415, 422),
    )
    async def create_tools(
        self,
        data: BatchBody,
        catalogue: Injected[Catalogue],
        pool: PoolDep,
        runtime: RuntimeDep,
        caller: Caller,
    ) -> BatchAnswer:
        """Announce a JSON list of tools; each item gets its own result, good ones are stored.

        Refused whole, with nothing stored: a batch over the size limit (422), one naming a vendor
        the key is not bound to (403), one whose storable items exceed the key's quota (429)."""
        try:
            drafts = await catalogue.draft_batch(pool, data, caller.owns_vendor)
        except Rejection as rejection:
            raise rejected(rejection, "Batch rejected") from None
        storable = sum(isinstance(draft, Draft) for draft in drafts)
        async with tools_reserved(runtime, caller, storable) as reservation:
            results = await catalogue.store_batch(pool, drafts, caller.owns_vendor)
            reservation.stored = sum(isinstance(r, Saved) and writes(r.outcome) for r in results)
        answers = [item_result(index, result) for index, result in enumerate(results)]
        return BatchAnswer(results=answers, summary=Summary(**Counter(str(a.status) for a in answers)))

    @get("/", guards=[PUBLIC], responses=problem_responses(400))
    async def list_tools(
        self,
        pool: PoolDep,
        config: Injected[IngestSettings],
        category: FromQuery[str | None] = None,
        vendor: FromQuery[str | None] = None,
        q: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = 50,
    ) -> ToolPage:
        """Tools by slug, filtered by category, vendor or text; ``next_cursor`` pages on."""
        if not 1 <= limit <= config.page_size_max:
            raise problem(
                400,
                "bad-parameter",
                "Bad parameter",
                f"limit must be 1..{config.page_size_max}",
                field="limit",
            )
        try:
            items, next_cursor = await store.list_tools(
                pool, limit=limit, cursor=cursor, category=category, vendor=vendor, text=q
            )
        except store.BadCursor:
            raise problem(
                400, "bad-parameter", "Bad parameter", "cursor is not one this API issued", field="cursor"
            ) from None
        return ToolPage(items=[ToolRecord.model_validate(item) for item in items], next_cursor=next_cursor)

    @get("/{slug:str}", guards=[PUBLIC], responses=problem_responses(404))
    async def get_tool(self, slug: FromPath[str], pool: PoolDep) -> ToolRecord:
        """One tool's current record."""
        tool = await store.get_tool(pool, slug)
        if tool is None:
            raise problem(404, "not-found", "Tool not found", f"no tool with slug {slug!r}", field="slug")
        return ToolRecord.model_validate(tool)


class CategoryController(Controller):
    path = "/v1/categories"
    tags = ["ingest"]

    @get("/", guards=[PUBLIC])
    async def list_categories(self, pool: PoolDep) -> Categories:
        """The managed category list a tool's ``category`` must name."""
        return Categories(items=await store.categories(pool))


def build_router(catalogue: Catalogue, settings: IngestSettings) -> Router:
    """ingest's routes; every body is refused past ``max_body_bytes`` while it is being read."""
    return Router(
        path="/",
        route_handlers=[ToolController, CategoryController],
        request_max_body_size=settings.max_body_bytes,
        dependencies={
            "catalogue": Provide(lambda: catalogue, sync_to_thread=False),
            "config": Provide(lambda: settings, sync_to_thread=False),
        },
    )
