"""Keys, scopes and guards on a real PostgreSQL; revocation heard by another process within a second."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest
from litestar import Controller, get, post
from litestar.testing import AsyncTestClient

from verdicts.platform.access.guards import PUBLIC, requires
from verdicts.platform.access.issuing import grant
from verdicts.platform.access.keys import Scope, parse_key
from verdicts.platform.deps import Caller
from verdicts.platform.service import ServiceSpec, build_app
from verdicts.platform.settings import PlatformSettings

pytestmark = pytest.mark.integration


class Probe(Controller):
    path = "/probe"

    @get("/open", guards=[PUBLIC])
    async def open_route(self) -> dict[str, str]:
        return {"ok": "yes"}

    @post("/write", guards=[requires(Scope.TOOLS_WRITE)], status_code=200)
    async def write(self, caller: Caller) -> dict[str, str]:
        return {"key": caller.key_id}


def probe_app(settings: PlatformSettings, **limits: float):
    spec = ServiceSpec(name="probe", schema="probe", route_handlers=[Probe], uses_outbox=False)
    return build_app([spec], settings.model_copy(update=limits))


@pytest.fixture(scope="module")
async def client(settings: PlatformSettings):
    async with AsyncTestClient(probe_app(settings, key_requests_per_minute=5)) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_no_key_is_401_with_a_challenge(client):
    answer = await client.post("/probe/write")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.json()["code"] == "unauthenticated"


@pytest.mark.parametrize("header", ["Bearer nonsense", "Basic abc", "Bearer vdk_abc", "Bearer "])
async def test_malformed_keys_are_401(client, header):
    answer = await client.post("/probe/write", headers={"Authorization": header})
    assert answer.status_code == 401
    assert "nonsense" not in answer.text


async def test_unknown_key_is_401_and_never_echoed(client):
    unknown = "vdk_abcdefghij_" + "A" * 43
    answer = await client.post("/probe/write", headers=bearer(unknown))
    assert answer.status_code == 401
    assert unknown not in answer.text


async def test_missing_scope_is_403_and_the_right_scope_passes(client, database_url):
    reader = await grant(database_url, Scope.INFERENCE)
    writer = await grant(database_url, Scope.TOOLS_WRITE, vendors=("Acme",))
    denied = await client.post("/probe/write", headers=bearer(reader))
    assert denied.status_code == 403
    assert denied.json()["required_scope"] == "tools:write"
    allowed = await client.post("/probe/write", headers=bearer(writer))
    assert allowed.status_code == 200, allowed.text
    assert allowed.json() == {"key": parse_key(writer)}


async def test_per_key_rate_limit_is_429_with_retry_after(client, database_url):
    key = await grant(database_url, Scope.TOOLS_WRITE, vendors=("Acme",))
    statuses = [(await client.post("/probe/write", headers=bearer(key))).status_code for _ in range(6)]
    assert statuses[:5] == [200] * 5
    assert statuses[5] == 429


async def test_public_reads_are_limited_per_address(settings):
    app = probe_app(settings, public_burst=3, public_rate_per_s=0.01)
    async with AsyncTestClient(app) as client:
        await public_reads_run_out(client)


async def public_reads_run_out(client: AsyncTestClient) -> None:
    statuses = [(await client.get("/probe/open")).status_code for _ in range(5)]
    assert 429 in statuses
    limited = await client.get("/probe/open")
    assert int(limited.headers["retry-after"]) >= 1


async def test_revocation_by_another_process_is_seen_within_a_second(client, database_url):
    key = await grant(database_url, Scope.TOOLS_WRITE, vendors=("Acme",), name="revoke-me")
    assert (await client.post("/probe/write", headers=bearer(key))).status_code == 200  # now cached
    code = (
        "import asyncio, sys; from verdicts.platform.access.issuing import revoke; "
        "assert asyncio.run(revoke(sys.argv[1], sys.argv[2]))"
    )
    await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", code, database_url, parse_key(key)], check=True
    )
    revoked_at = time.monotonic()
    while (await client.post("/probe/write", headers=bearer(key))).status_code != 401:
        assert time.monotonic() - revoked_at < 1.0, "revoked key still accepted after a second"
        await asyncio.sleep(0.02)


async def test_the_openapi_document_names_the_scope_and_the_auth_answers(client):
    answer = await client.get("/schema/openapi.json")
    assert answer.status_code == 200, answer.text
    document = answer.json()
    write = document["paths"]["/probe/write"]["post"]
    assert write["security"] == [{"apiKey": ["tools:write"]}]
    assert {"401", "403", "429"} <= set(write["responses"])
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    page = await client.get("/schema")
    assert page.status_code == 200
    assert "/schema/assets/swagger-ui-bundle.js" in page.text
    assert (await client.get("/schema/assets/swagger-ui-bundle.js")).status_code == 200
    assert (await client.get("/schema/assets/reference.js")).status_code == 200


async def test_security_headers_on_api_answers_and_the_reference_page(client):
    answer = await client.get("/probe/open")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    page = await client.get("/schema")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "unsafe-inline" not in page.headers["content-security-policy"].split("script-src")[1].split(";")[0]


async def test_keys_never_reach_logs_or_trace_header_capture(client, database_url, caplog):
    import os

    from verdicts.platform.telemetry import SANITIZE_FIELDS

    key = await grant(database_url, Scope.TOOLS_WRITE, vendors=("Acme",), name="quiet")
    caplog.set_level("DEBUG")
    await client.post("/probe/write", headers=bearer(key))
    await client.post("/probe/write", headers=bearer(key[:-2] + "zz"))
    assert key not in caplog.text
    assert key[:-2] not in caplog.text
    assert "authorization" in os.environ[SANITIZE_FIELDS].lower()
