"""``/health/live`` and ``/health/ready``: ready means broker connected and ``SELECT 1``."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, get
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from verdicts.platform.access.guards import PUBLIC
from verdicts.platform.db import ping


@get("/health/live", sync_to_thread=False, include_in_schema=False, guards=[PUBLIC])
def live() -> dict[str, str]:
    return {"status": "live"}


@get("/health/ready", include_in_schema=False, guards=[PUBLIC])
async def ready(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    runtime = request.app.state.runtime
    checks: dict[str, str] = {}
    try:
        # One connection per service (each its own NATS user): all must answer.
        pings = [await broker.ping(timeout=2.0) for broker in runtime.all_brokers()]
        checks["broker"] = "ok" if all(pings) else "not connected"
    except Exception as exc:  # any failure means not ready
        checks["broker"] = f"error: {exc.__class__.__name__}"
    try:
        await asyncio.wait_for(ping(runtime.pool), 3.0)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {exc.__class__.__name__}"
    for service in runtime.services:
        for name, check in service.ready_checks.items():
            try:
                checks[name] = await asyncio.wait_for(check(runtime), 3.0)
            except Exception as exc:
                checks[name] = f"error: {exc.__class__.__name__}"
    is_ready = all(v == "ok" for v in checks.values())
    body = {
        "status": "ready" if is_ready else "not ready",
        "services": list(runtime.service_names),
        "checks": checks,
    }
    return Response(body, status_code=HTTP_200_OK if is_ready else HTTP_503_SERVICE_UNAVAILABLE)
