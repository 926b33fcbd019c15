"""The panel through an inference outage: inference runs as its own process, is killed with
SIGKILL mid-panel and started again; a reviewer whose route keeps failing leaves the panel partial."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from fake_anthropic import Behaviour, fake_anthropic
from litestar.testing import AsyncTestClient
from panel_testing import SAMPLE, assert_completed_with_provenance, bearer, operator_key

from verdicts.ingest.app import create_app as ingest_app
from verdicts.platform.embedded.process import ManagedProcess, free_port
from verdicts.platform.service import build_app
from verdicts.platform.testing.plugin import eventually
from verdicts.review_panel.app import create_app as panel_app

pytestmark = [pytest.mark.e2e, pytest.mark.model, pytest.mark.slow]

TOOL = next(t for t in SAMPLE if t["name"] == "Cursor")  # no model family: every route may review it
DOWN_S = float(os.environ.get("VERDICTS_TEST_INFERENCE_DOWN_S", "10"))


@pytest.fixture(scope="module")
async def claude_overloaded():
    async with fake_anthropic() as fake:
        fake.script = [Behaviour("overloaded") for _ in range(10_000)]
        yield fake


@pytest.fixture(scope="module")
def inference(settings, llama_server, claude_overloaded, tmp_path_factory):
    """`verdicts run inference` as a child process, with Claude's route on the overloaded stand-in."""
    folder: Path = tmp_path_factory.mktemp("inference")
    routes = folder / "routes.yaml"
    routes.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "claude-sonnet-4",
                    "base_url": claude_overloaded.url,
                    "max_attempts": 1,
                    "breaker_cooldown_s": 1,
                }
            ]
        )
    )
    port = free_port()
    env = os.environ | {
        "VERDICTS_NATS_URL": settings.nats_url,
        "DATABASE_URL": settings.database_url,
        "VERDICTS_MODEL_URL": llama_server.url,
        "VERDICTS_INFERENCE_ROUTES_FILE": str(routes),
        "ANTHROPIC_API_KEY": "sk-ant-test-not-a-secret",
        "VERDICTS_PORT": str(port),
        "VERDICTS_HOME": str(folder),
        "VERDICTS_LOG_JSON": "false",
    }
    process = ManagedProcess(
        "inference",
        [sys.executable, "-m", "verdicts.cli.main", "run", "inference"],
        folder / "inference.log",
        env=env,
        stop_signal=signal.SIGTERM,
    )

    def ready() -> bool:
        return httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200

    process.start()
    process.wait_ready(ready, timeout=60)
    yield process, ready
    process.stop()


@pytest.fixture(scope="module")
async def client(settings, database_url, inference, monkeypatch_module, tmp_path_factory):
    assignment = tmp_path_factory.mktemp("panel") / "assignment.yaml"
    assignment.write_text(yaml.safe_dump({"buyer": "claude-sonnet-4"}))
    for name, value in {
        "ASSIGNMENT_FILE": str(assignment),
        "JOB_MAX_DELIVER": "10",
        "RETRY_MAX_DELAY_S": "4",
        "INFERENCE_TIMEOUT_S": "25",
    }.items():
        monkeypatch_module.setenv(f"VERDICTS_REVIEW_PANEL_{name}", value)
    async with AsyncTestClient(build_app([ingest_app(), panel_app(settings)], settings)) as client:
        client.headers.update(bearer(await operator_key(database_url)))
        yield client


async def reviews_by_status(db) -> dict[str, int]:
    rows = await db.fetch("SELECT status, count(*) FROM review_panel.reviews GROUP BY status")
    return {r["status"]: r["count"] for r in rows}


async def test_panel_completes_after_inference_is_killed_and_restarted(client, db, inference):
    process, ready = inference
    result = await client.post("/v1/tools", json=TOOL)
    assert result.status_code == 201

    await eventually(lambda: reviews_by_status(db), within=120, interval=0.2)  # one review is in
    process.kill()
    await eventually(lambda: not process.alive(), within=5)
    await asyncio.sleep(DOWN_S)  # down: jobs wait and retry, none is given up
    assert await db.fetchval("SELECT status FROM review_panel.panels") == "running"

    process.start()
    process.wait_ready(ready, timeout=60)
    await eventually(
        lambda: db.fetchval("SELECT status <> 'running' FROM review_panel.panels"), within=240, interval=1
    )

    panel = await db.fetchrow("SELECT * FROM review_panel.panels")
    assert (panel["status"], panel["failed"], panel["ship"] + panel["skip"]) == ("partial", 1, 3)
    rows = await db.fetch("SELECT * FROM review_panel.reviews ORDER BY persona")
    assert len(rows) == 4
    for row in rows:
        if row["persona"] == "buyer":  # on Claude's route, overloaded every time
            assert row["status"] == "failed"
            assert row["failure_reason"].startswith("inference ")
        else:
            await assert_completed_with_provenance(db, row)

    body = (await client.get("/v1/tools/cursor/reviews")).json()
    assert body["latest"]["panel"]["partial"] is True
    assert body["latest"]["panel"]["ship_pct"] is not None
