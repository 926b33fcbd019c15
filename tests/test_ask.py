"""`verdicts ask --route local` returns schema-valid JSON from the real local model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jsonschema
import pytest

from verdicts.platform.embedded.process import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.model, pytest.mark.slow]

VERDICTS = str(Path(sys.executable).parent / "verdicts")
SCHEMA = {
    "type": "object",
    "properties": {"verdict": {"type": "string", "enum": ["ship", "skip"]}, "why": {"type": "string"}},
    "required": ["verdict", "why"],
}


@pytest.fixture(scope="module")
def inference_env(settings, llama_server, tmp_path_factory):
    port = free_port()
    env = os.environ | {
        "VERDICTS_NATS_URL": settings.nats_url,
        "DATABASE_URL": settings.database_url,
        "VERDICTS_MODEL_URL": llama_server.url,
        "VERDICTS_PORT": str(port),
        "VERDICTS_HOME": str(tmp_path_factory.mktemp("home")),
    }
    proc = subprocess.Popen([VERDICTS, "run", "inference"], env=env, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        yield env
    finally:
        proc.terminate()
        proc.wait(30)


def test_ask_local_returns_schema_valid_json(inference_env, tmp_path):
    schema = tmp_path / "verdict.json"
    schema.write_text(json.dumps(SCHEMA))
    result = subprocess.run(
        [VERDICTS, "ask", "--route", "local", "--schema", str(schema), "--seed", "3", "--max-tokens", "80",
         "Is a well-tested open-source CLI worth shipping with? Answer ship or skip."],
        env=inference_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    jsonschema.validate(answer, SCHEMA)
    assert "route local" in result.stderr


def test_ask_an_unknown_route_is_one_line(inference_env, tmp_path):
    schema = tmp_path / "verdict.json"
    schema.write_text(json.dumps(SCHEMA))
    result = subprocess.run(
        [VERDICTS, "ask", "--route", "nope", "--schema", str(schema), "hi"],
        env=inference_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "bad_request: unknown route 'nope'" in result.stderr
    assert "Traceback" not in result.stderr
