"""render's HTTP API on a bare Litestar app: typed bodies, refusals and page serving, no server."""

from __future__ import annotations

from types import SimpleNamespace

import asyncpg
import pytest
from litestar import Litestar
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin
from litestar.testing import AsyncTestClient

from verdicts.platform.access.guards import caller
from verdicts.platform.access.keys import ApiKey, Scope
from verdicts.platform.http import body_too_large, client_problem, not_utf8
from verdicts.platform.security_headers import security_headers
from verdicts.platform.settings import PlatformSettings
from verdicts.render.api import COMPARISON_BODY_LIMIT, build_router
from verdicts.render.config import RenderSettings
from verdicts.render.pages import Site
from verdicts.render.publisher import DirectoryPublisher

pytestmark = pytest.mark.unit


class NoPool(asyncpg.Pool):
    """A pool the refused requests must never touch (Litestar checks the dependency's type)."""

    def __init__(self) -> None:  # no connections, no server
        pass

    def acquire(self, *, timeout: float | None = None):  # type: ignore[override]
        raise AssertionError("the database was asked")


class AdminKeys:
    """Every request carries an admin's key (the guards themselves are tested with the platform)."""

    async def authenticate(self, authorization: str | None) -> ApiKey:
        return ApiKey("admin", "admin", frozenset({Scope.ADMIN}), frozenset())


def open_runtime() -> SimpleNamespace:
    """What the access guards ask of the runtime: keys, the per-address limiter, settings."""
    return SimpleNamespace(
        keys=AdminKeys(), public_limiter=SimpleNamespace(hit=lambda _: None), settings=PlatformSettings()
    )


@pytest.fixture
async def api(tmp_path):
    publisher = DirectoryPublisher(tmp_path / "site")
    router = build_router(Site("https://verdicts.example", 25), publisher, RenderSettings())
    # What build_app adds around every service's routes (a pool that is never reached).
    app = Litestar(
        route_handlers=[router],
        dependencies={
            "pool": Provide(lambda: NoPool(), sync_to_thread=False),
            "caller": Provide(caller, sync_to_thread=False),
        },
        middleware=[security_headers],
        plugins=[ProblemDetailsPlugin(ProblemDetailsConfig(enable_for_all_http_exceptions=True))],
        exception_handlers={
            ValidationException: client_problem,
            400: client_problem,
            413: body_too_large,
            UnicodeDecodeError: not_utf8,
        },
    )
    app.state.runtime = open_runtime()
    async with AsyncTestClient(app) as client:
        yield client, publisher


async def test_a_comparison_request_is_refused_before_anything_is_read_or_rendered(api):
    client, _ = api
    not_json = await client.post("/v1/comparisons", content=b"a=alpha&b=beta")
    assert not_json.status_code == 415
    big = await client.post(
        "/v1/comparisons",
        content=b'{"a": "' + b"a" * COMPARISON_BODY_LIMIT + b'", "b": "beta"}',
        headers={"content-type": "application/json"},
    )
    assert big.status_code == 413
    assert big.json()["limit_bytes"] == COMPARISON_BODY_LIMIT
    malformed = await client.post(
        "/v1/comparisons", content=b'{"a": ', headers={"content-type": "application/json"}
    )
    assert (malformed.status_code, malformed.json()["code"]) == (400, "malformed-json")
    invalid = await client.post("/v1/comparisons", json={"a": "Alpha!", "b": "beta", "c": 1})
    assert invalid.status_code == 422
    assert invalid.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in invalid.json()["errors"]} >= {"a", "c"}
    same = await client.post("/v1/comparisons", json={"a": "alpha", "b": "alpha"})
    assert (same.status_code, same.json()["code"], same.json()["field"]) == (422, "same-tool", "b")


async def test_published_pages_are_served_with_etag_and_last_modified(api):
    client, publisher = api
    publisher.publish("tools/alpha/index.html", b"<p>Alpha</p>", "text/html")
    page = await client.get("/tools/alpha/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    etag, modified = page.headers["etag"], page.headers["last-modified"]
    assert (await client.get("/tools/alpha", headers={"If-None-Match": etag})).status_code == 304
    assert (await client.get("/tools/alpha/", headers={"If-Modified-Since": modified})).status_code == 304
    assert (await client.get("/tools/beta/")).status_code == 404
    assert (await client.get("/tools/../../etc/passwd")).status_code == 404


async def test_openapi_describes_the_comparison_request_and_answer(api):
    client, _ = api
    schema = (await client.get("/schema/openapi.json")).json()
    operation = schema["paths"]["/v1/comparisons"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ComparisonRequest"
    )
    assert operation["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ComparisonAnswer"
    )
    operation = schema["paths"]["/v1/comparisons/{pair}"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ComparisonDocument"
    )
    assert {"301", "404", "422"} <= set(operation["responses"])


async def test_pages_carry_a_strict_policy_and_badges_stay_embeddable(api):
    client, publisher = api
    publisher.publish("tools/alpha/index.html", b"<p>Alpha</p>", "text/html")
    publisher.publish("badges/alpha.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")
    page = await client.get("/tools/alpha/")
    policy = dict(d.strip().split(" ", 1) for d in page.headers["content-security-policy"].split(";"))
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'self'"
    assert policy["object-src"] == policy["base-uri"] == "'none'"
    assert page.headers["x-content-type-options"] == "nosniff"
    badge = await client.get("/badges/alpha.svg")
    assert badge.headers["content-type"] == "image/svg+xml"
    assert badge.headers["cross-origin-resource-policy"] == "cross-origin"
    assert "script-src" not in badge.headers["content-security-policy"]
    assert "frame-ancestors" not in badge.headers["content-security-policy"]
    assert (await client.get("/tools/alpha/", headers={"If-None-Match": page.headers["etag"]})).headers[
        "content-security-policy"
    ] == page.headers["content-security-policy"]


async def test_the_stylesheet_is_served_from_the_site(api):
    client, _ = api
    css = await client.get("/assets/site.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert ".scorecard" in css.text
    assert (await client.get("/assets/../api.py")).status_code == 404


async def test_a_published_page_says_its_charset_once(api):
    client, publisher = api
    publisher.publish("tools/alpha/index.html", b"<p>Alpha</p>", "text/html")
    page = await client.get("/tools/alpha/")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
