"""Who may announce which tools: 401 without a key, 403 for another vendor's tools (never naming the
holder), the daily tools quota (429 with Retry-After), public reads; nothing stored when refused."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from verdicts.ingest.app import create_app
from verdicts.platform.access.issuing import grant
from verdicts.platform.access.keys import Scope
from verdicts.platform.service import build_app
from verdicts.platform.testing import sample_tools

pytestmark = pytest.mark.integration

ACME = "Acme Access"
RIVAL = "Rival Access"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def tool(name: str, vendor: str = ACME, **patch) -> dict:
    return {**sample_tools()[0], "name": name, "vendor": vendor, **patch}


@pytest.fixture(scope="module")
async def anonymous(settings):
    """ingest over HTTP, sending no key unless a request does."""
    async with AsyncTestClient(build_app([create_app()], settings)) as client:
        yield client


@pytest.fixture(scope="module")
async def acme(database_url) -> dict[str, str]:
    return bearer(await grant(database_url, Scope.TOOLS_WRITE, vendors=(ACME,), name="acme"))


@pytest.fixture(scope="module")
async def rival(database_url) -> dict[str, str]:
    return bearer(await grant(database_url, Scope.TOOLS_WRITE, vendors=(RIVAL,), name="rival"))


async def stored(db, slug: str) -> tuple[int, int, int]:
    """Rows for ``slug``: tools, versions, outbox events."""
    return (
        await db.fetchval("SELECT count(*) FROM ingest.tools WHERE slug = $1", slug),
        await db.fetchval("SELECT count(*) FROM ingest.tool_versions WHERE slug = $1", slug),
        await db.fetchval(
            "SELECT count(*) FROM ingest.outbox WHERE position(convert_to($1, 'UTF8') in payload) > 0", slug
        ),
    )


@pytest.mark.parametrize("path", ["/v1/tools", "/v1/tools/batch"])
async def test_announcing_without_a_key_is_401_with_a_challenge(anonymous, db, path):
    body = tool("Keyless Tool")
    response = await anonymous.post(path, json=body if path == "/v1/tools" else [body])
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await stored(db, "keyless-tool") == (0, 0, 0)


async def test_a_key_without_tools_write_is_403(anonymous, database_url):
    reruns = bearer(await grant(database_url, Scope.REVIEWS_RERUN, name="reruns-only"))
    response = await anonymous.post("/v1/tools", json=tool("Wrong Scope Tool"), headers=reruns)
    assert response.status_code == 403
    assert response.json()["required_scope"] == "tools:write"


async def test_a_bound_key_announces_its_vendors_tools(anonymous, acme):
    spelled = tool("Acme Own Tool", vendor="acme  ACCESS")  # the key's vendor in another spelling
    response = await anonymous.post("/v1/tools", json=spelled, headers=acme)
    assert response.status_code == 201, response.text
    batch = await anonymous.post("/v1/tools/batch", json=[tool("Acme Batch Tool")], headers=acme)
    assert batch.json()["summary"]["accepted"] == 1


async def test_another_vendors_key_is_403_and_stores_nothing(anonymous, db, rival):
    response = await anonymous.post("/v1/tools", json=tool("Not Rivals Tool"), headers=rival)
    assert response.status_code == 403, response.text
    problem = response.json()
    assert (problem["code"], problem["field"]) == ("not-your-vendor", "vendor")
    assert await stored(db, "not-rivals-tool") == (0, 0, 0)


async def test_a_batch_naming_another_vendor_is_403_whole_and_stores_nothing(anonymous, db, rival):
    items = [tool("Rival Batch Own", vendor=RIVAL), tool("Rival Batch Foreign"), {"name": "not a tool"}]
    response = await anonymous.post("/v1/tools/batch", json=items, headers=rival)
    assert response.status_code == 403, response.text
    assert (response.json()["code"], response.json()["items"]) == ("not-your-vendor", [1])
    assert await stored(db, "rival-batch-own") == (0, 0, 0)
    assert await stored(db, "rival-batch-foreign") == (0, 0, 0)


async def test_rewriting_another_vendors_tool_is_403_without_naming_the_holder(anonymous, db, acme, rival):
    first = await anonymous.post("/v1/tools", json=tool("Held Tool", tagline="Acme's own"), headers=acme)
    assert first.status_code == 201, first.text
    before = await stored(db, "held-tool")

    takeover = tool("held   TOOL", vendor=RIVAL, tagline="Now the rival's")
    response = await anonymous.post("/v1/tools", json=takeover, headers=rival)
    assert response.status_code == 403, response.text
    assert (response.json()["code"], response.json()["field"]) == ("not-your-tool", "name")
    assert ACME.casefold() not in response.text.casefold()

    batch = await anonymous.post(
        "/v1/tools/batch", json=[takeover, tool("Rival Fresh Tool", vendor=RIVAL)], headers=rival
    )
    assert batch.status_code == 200, batch.text
    held, fresh = batch.json()["results"]
    assert (held["status"], held["code"]) == ("rejected", "not-your-tool")
    assert fresh["status"] == "accepted"
    assert ACME.casefold() not in batch.text.casefold()

    assert await stored(db, "held-tool") == before
    kept = (await anonymous.get("/v1/tools/held-tool")).json()
    assert (kept["vendor"], kept["tagline"], kept["version"]) == (ACME, "Acme's own", 1)


async def test_reads_need_no_key(anonymous):
    assert (await anonymous.get("/v1/tools")).status_code == 200
    assert (await anonymous.get("/v1/tools/held-tool")).status_code in (200, 404)
    assert (await anonymous.get("/v1/categories")).status_code == 200


async def test_the_openapi_document_names_the_scope_and_the_request_bodies(anonymous):
    document = (await anonymous.get("/schema/openapi.json")).json()
    for path in ("/v1/tools", "/v1/tools/batch"):
        post = document["paths"][path]["post"]
        assert post["security"] == [{"apiKey": ["tools:write"]}]
        assert "requestBody" in post
        assert {"401", "403", "422", "429"} <= set(post["responses"])
    assert {"200", "201"} <= set(document["paths"]["/v1/tools"]["post"]["responses"])
    assert "security" not in document["paths"]["/v1/tools"]["get"]
    assert "404" in document["paths"]["/v1/tools/{slug}"]["get"]["responses"]


async def test_the_daily_tools_quota_is_429_with_retry_after_and_stores_nothing(settings, database_url, db):
    app = build_app([create_app()], settings.model_copy(update={"key_tools_per_day": 2}))
    key = bearer(await grant(database_url, Scope.TOOLS_WRITE, vendors=(ACME,), name="quota"))
    admin = bearer(await grant(database_url, Scope.ADMIN, name="quota-admin"))
    async with AsyncTestClient(app) as client:
        unknown = await client.post("/v1/tools", json=tool("Quota Nowhere", category="Toasters"), headers=key)
        assert unknown.status_code == 422  # refused before counting

        three = [tool(f"Quota Batch {i}") for i in range(3)]
        over = await client.post("/v1/tools/batch", json=three, headers=key)
        assert over.status_code == 429, over.text
        assert int(over.headers["retry-after"]) >= 1
        for i in range(3):
            assert await stored(db, f"quota-batch-{i}") == (0, 0, 0)

        assert (await client.post("/v1/tools", json=tool("Quota One"), headers=key)).status_code == 201
        again = await client.post("/v1/tools", json=tool("Quota One"), headers=key)
        assert again.json()["status"] == "unchanged"  # stores nothing, so counts nothing
        assert (await client.post("/v1/tools", json=tool("Quota Two"), headers=key)).status_code == 201

        spent = await client.post("/v1/tools", json=tool("Quota Three"), headers=key)
        assert spent.status_code == 429, spent.text
        assert int(spent.headers["retry-after"]) >= 1
        assert await stored(db, "quota-three") == (0, 0, 0)

        by_admin = await client.post("/v1/tools", json=tool("Quota Three"), headers=admin)
        assert by_admin.status_code == 201  # admin keys are never counted
