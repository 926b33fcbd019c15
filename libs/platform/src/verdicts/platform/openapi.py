"""The one OpenAPI 3.1 document: problem responses, the bearer security scheme and its scopes.

Routes list the refusals they can give with ``responses=problem_responses(404, 409)``; the auth
answers (401, 403, 429) are added by ``document_access`` from each route's access rule, so the
document and the guards cannot disagree.
"""

from __future__ import annotations

import html
import importlib.util
from collections.abc import Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from pydantic import BaseModel, ConfigDict

from verdicts.platform.access.guards import PUBLIC, access_rule

SECURITY_SCHEME = "apiKey"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    """An RFC 9457 problem; ``code`` is the machine-readable reason, ``field`` the input at fault."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    code: str | None = None
    field: str | None = None


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=HTTPStatus(status).phrase,
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
        for status in statuses
    }


COMPONENTS = Components(
    security_schemes={
        SECURITY_SCHEME: SecurityScheme(
            type="http",
            scheme="bearer",
            description=(
                "A partner API key (`verdicts keys create`), sent as `Authorization: Bearer KEY`. "
                "Scopes: tools:write (own vendors' tools), reviews:rerun, inference, admin (all)."
            ),
        )
    }
)


def document_access(app: Litestar) -> None:
    """Give every guarded route its security requirement (with the scope) and its auth answers."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            rule = access_rule(handler.resolve_guards())
            if rule is None or not hasattr(handler, "responses"):
                continue
            extra: Iterable[int] = (429,) if rule.public else (401, 403, 429)
            responses: dict[int, Any] = dict(problem_responses(*extra))
            responses.update(handler.responses or {})
            handler.responses = responses
            if not rule.public and rule.scope is not None:
                handler.security = [{SECURITY_SCHEME: [rule.scope.value]}]


SWAGGER_ASSETS = Path(importlib.util.find_spec("swagger_ui").submodule_search_locations[0]) / "static"  # type: ignore[union-attr,index]
OWN_ASSETS = Path(__file__).parent / "reference"
ASSETS_PATH = "/schema/assets"


class ReferencePage(OpenAPIRenderPlugin):
    """``/schema``: Swagger UI with its scripts and styles served by the app (works offline, and
    under a CSP without inline script)."""

    def __init__(self) -> None:
        super().__init__(path="/", favicon="", style="")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema["info"]["title"]))
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
<script src="{ASSETS_PATH}/swagger-ui-bundle.js" defer></script>
<script src="{ASSETS_PATH}/reference.js" defer></script>
</head><body><div id="reference"></div></body></html>""".encode()


def openapi_config(title: str, version: str) -> OpenAPIConfig:
    return OpenAPIConfig(
        title=title,
        version=version,
        description="The Verdicts API. Public reads need no key; writes need a partner API key.",
        components=COMPONENTS,
        path="/schema",
        render_plugins=[JsonRenderPlugin(path="/openapi.json"), ReferencePage()],
        openapi_router=Router(path="/schema", route_handlers=[], guards=[PUBLIC]),
    )


def reference_assets() -> Router:
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[OWN_ASSETS, SWAGGER_ASSETS],
        guards=[PUBLIC],
        cache_control=CacheControlHeader(max_age=86400, public=True),
        name="reference-assets",
    )
