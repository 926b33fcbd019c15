"""Fixtures shared by ingest's tests: the service over HTTP."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from verdicts.ingest.app import create_app
from verdicts.platform.service import build_app


@pytest.fixture(scope="module")
async def client(settings):
    async with AsyncTestClient(build_app([create_app()], settings)) as client:
        yield client
