"""Fixtures shared by ingest's tests: the service over HTTP, and API keys to call it with."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from verdicts.ingest.app import create_app
from verdicts.platform.access.issuing import grant
from verdicts.platform.access.keys import Scope
from verdicts.platform.service import build_app


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
async def admin_key(database_url) -> str:
    """An admin key: writes any vendor's tools, never counted (what the CLI sends)."""
    return await grant(database_url, Scope.ADMIN, name="ingest-tests-admin")


@pytest.fixture(scope="module")
async def client(settings, admin_key):
    """ingest over HTTP, sending the admin key unless a request sends another."""
    async with AsyncTestClient(build_app([create_app()], settings)) as client:
        client.headers.update(bearer(admin_key))
        yield client
