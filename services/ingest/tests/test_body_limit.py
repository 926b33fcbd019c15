"""A body over VERDICTS_INGEST_MAX_BODY_BYTES is refused while it is being read: a 10 MiB chunked
body (no Content-Length to refuse it by) gets a 413, and the service never holds it in memory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psutil
import pytest

from verdicts.ingest.app import create_app
from verdicts.ingest.config import IngestSettings
from verdicts.platform.access.issuing import grant
from verdicts.platform.access.keys import Scope
from verdicts.platform.service import build_app
from verdicts.platform.testing.plugin import served

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
CHUNK = b" " * (64 * 1024)  # one object sent again and again: the client allocates nothing per chunk


class Chunks:
    """10 MiB of JSON whitespace as a chunked body, counting what the client managed to send."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            yield CHUNK
            self.sent += len(CHUNK)


class Counted:
    """The app as served, counting the body bytes it took from the server (``receive``)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.received = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def counted() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
            return message

        await self.app(scope, counted, send)


def rss() -> int:
    gc.collect()
    return psutil.Process().memory_info().rss


async def test_a_10_mib_chunked_body_is_refused_without_being_held(settings, database_url):
    app = Counted(build_app([create_app()], settings))
    limit = IngestSettings().max_body_bytes
    key = await grant(database_url, Scope.TOOLS_WRITE, vendors=("Probe Co",))
    async with served(app) as url, httpx.AsyncClient(base_url=url) as client:
        # With a key: the guard lets it in and the body is read up to the limit (without one the
        # 401 comes before any of it is read).
        headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
        warm_up = await client.post("/v1/tools", content=Chunks(2 * MiB), headers=headers)
        assert warm_up.status_code == 413, warm_up.text

        before, app.received = rss(), 0
        body = Chunks(10 * MiB)
        response = await client.post("/v1/tools", content=body, headers=headers)
        growth = rss() - before

        assert response.status_code == 413, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "body-too-large"
        assert response.request.headers.get("transfer-encoding") == "chunked"
        assert "content-length" not in response.request.headers
        print(
            f"RSS growth {growth / MiB:.2f} MiB; the app read {app.received / MiB:.2f} MiB "
            f"(limit {limit / MiB:.2f} MiB); the client sent {body.sent / MiB:.2f} MiB"
        )
        # Litestar stops at the limit (uvicorn then discards the rest to keep the connection open).
        assert limit < app.received < limit + MiB  # uvicorn hands over what it buffered (<= ~64 KiB more)
        assert growth < 5 * MiB
