"""Fixtures shared by votes' tests."""

from __future__ import annotations

import asyncpg
import pytest


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
async def db(database_url):
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()
