"""Every bad input: a 4xx problem+json naming the field, no row, no event."""

from __future__ import annotations

import json

import pytest

from verdicts.platform.testing import sample_tools

pytestmark = pytest.mark.integration

SAMPLE = sample_tools()
GOOD = {**SAMPLE[2], "name": "Bad Input Probe", "vendor": "Probe Co"}


def with_(**patch):
    return json.dumps({**GOOD, **patch})


def without(field):
    return json.dumps({k: v for k, v in GOOD.items() if k != field})


def pricing(**patch):
    return with_(pricing={**GOOD["pricing"], **patch})


JSON = "application/json"
CASES = {
    "malformed json": ('{"name": "x",', JSON, 400, "body"),
    "nan is not json": ('{"name": NaN}', JSON, 400, "body"),
    "wrong content type": (with_(), "text/plain", 415, "content-type"),
    "form content type": ("name=x", "application/x-www-form-urlencoded", 415, "content-type"),
    "body over 1 MiB": (with_(description="x" * (1024 * 1024 + 10)), JSON, 413, "body"),
    "not an object": ("[1, 2]", JSON, 422, "body"),
    "missing name": (without("name"), JSON, 422, "name"),
    "missing vendor": (without("vendor"), JSON, 422, "vendor"),
    "missing category": (without("category"), JSON, 422, "category"),
    "missing tagline": (without("tagline"), JSON, 422, "tagline"),
    "missing description": (without("description"), JSON, 422, "description"),
    "missing pricing": (without("pricing"), JSON, 422, "pricing"),
    "missing homepage": (without("homepage"), JSON, 422, "homepage"),
    "empty name": (with_(name=""), JSON, 422, "name"),
    "blank vendor": (with_(vendor="   "), JSON, 422, "vendor"),
    "null tagline": (with_(tagline=None), JSON, 422, "tagline"),
    "tagline over 140": (with_(tagline="t" * 141), JSON, 422, "tagline"),
    "description over 4000": (with_(description="d" * 4001), JSON, 422, "description"),
    "name over 200": (with_(name="n" * 201), JSON, 422, "name"),
    "javascript url": (with_(homepage="javascript:alert(document.cookie)"), JSON, 422, "homepage"),
    "data url": (with_(homepage="data:text/html;base64,PHNjcmlwdD4="), JSON, 422, "homepage"),
    "file url": (with_(homepage="file:///etc/passwd"), JSON, 422, "homepage"),
    "pricing source javascript": (pricing(source_url="javascript:x"), JSON, 422, "pricing.source_url"),
    "control character": (with_(tagline="ring\x07ring"), JSON, 422, "tagline"),
    "nul byte": (with_(description="before\x00after"), JSON, 422, "description"),
    "bidi override": (with_(name="Tool\u202egnp.exe"), JSON, 422, "name"),
    "bidi isolate": (with_(vendor="Ven\u2066dor"), JSON, 422, "vendor"),
    "negative price": (pricing(entry_price_usd=-0.01), JSON, 422, "pricing.entry_price_usd"),
    "non-numeric price": (pricing(entry_price_usd="cheap"), JSON, 422, "pricing.entry_price_usd"),
    "price as string": (pricing(entry_price_usd="2.5"), JSON, 422, "pricing.entry_price_usd"),
    "unknown pricing model": (pricing(model="lifetime"), JSON, 422, "pricing.model"),
    "unknown category": (with_(category="Toasters"), JSON, 422, "category"),
    "unknown field": (with_(tagLine="typo"), JSON, 422, "tagLine"),
    "bad release date": (with_(released="last tuesday"), JSON, 422, "released"),
    "too many tags": (with_(tags=[f"t{i}" for i in range(21)]), JSON, 422, "tags"),
}


async def nothing_stored(db) -> None:
    assert await db.fetchval("SELECT count(*) FROM ingest.tools") == 0
    assert await db.fetchval("SELECT count(*) FROM ingest.tool_versions") == 0
    assert await db.fetchval("SELECT count(*) FROM ingest.outbox") == 0


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
async def test_bad_input_is_a_problem_naming_the_field_and_stores_nothing(client, db, case):
    body, content_type, status, field = CASES[case]
    response = await client.post("/v1/tools", content=body.encode(), headers={"content-type": content_type})
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert problem["type"].startswith("https://verdicts.dev/problems/")
    assert problem["field"] == field, problem
    assert problem["detail"]
    await nothing_stored(db)


async def test_unknown_category_lists_the_known_ones(client):
    response = await client.post(
        "/v1/tools", content=with_(category="Toasters"), headers={"content-type": JSON}
    )
    known = response.json()["errors"][0]["known"]
    assert "Developer Tools" in known
    assert "Code Editors" in known


async def test_a_batch_over_1000_items_is_refused_whole(client, db):
    items = [{**GOOD, "name": f"Bulk {i}"} for i in range(1001)]
    response = await client.post("/v1/tools/batch", json=items)
    assert response.status_code == 422
    assert response.json()["code"] == "batch-too-large"
    await nothing_stored(db)


async def test_a_different_tool_claiming_an_existing_slug_is_a_conflict_not_naming_the_holder(client, db):
    first = await client.post("/v1/tools", json={**GOOD, "name": "Slug Owner", "vendor": "First Co"})
    assert first.status_code == 201
    outbox_before = await db.fetchval("SELECT count(*) FROM ingest.outbox")
    # The admin key may write both vendors' tools: a conflict, not a refusal.
    claim = await client.post("/v1/tools", json={**GOOD, "name": "slug  OWNER", "vendor": "Second Co"})
    assert claim.status_code == 409
    assert claim.json()["code"] == "slug-taken"
    assert claim.json()["field"] == "name"
    assert "First Co" not in claim.text
    assert await db.fetchval("SELECT count(*) FROM ingest.tool_versions WHERE slug = 'slug-owner'") == 1
    assert await db.fetchval("SELECT count(*) FROM ingest.outbox") == outbox_before
    assert (await client.get("/v1/tools/slug-owner")).json()["vendor"] == "First Co"
    await db.execute("TRUNCATE ingest.tools, ingest.tool_versions, ingest.outbox")


async def test_html_and_script_are_stored_as_text(client, db):
    payload = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    response = await client.post("/v1/tools", json={**GOOD, "name": "Html Tool", "tagline": payload})
    assert response.status_code == 201
    assert (await client.get("/v1/tools/html-tool")).json()["tagline"] == payload
    await db.execute("TRUNCATE ingest.tools, ingest.tool_versions, ingest.outbox")


@pytest.mark.parametrize(
    ("params", "field"), [({"limit": 0}, "limit"), ({"limit": 500}, "limit"), ({"cursor": "!!!"}, "cursor")]
)
async def test_bad_list_parameters(client, params, field):
    response = await client.get("/v1/tools", params=params)
    assert response.status_code == 400
    assert response.json()["field"] == field
