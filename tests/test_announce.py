"""`verdicts run ingest` + `verdicts announce` on the sample file, as a partner would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nats
import pytest

from verdicts.contracts.subjects import INGEST_STREAM
from verdicts.platform.embedded.process import free_port
from verdicts.platform.testing import SAMPLE_TOOLS_FILE

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VERDICTS = str(Path(sys.executable).parent / "verdicts")
SAMPLE = SAMPLE_TOOLS_FILE


@pytest.fixture(scope="module")
def ingest_api(settings, tmp_path_factory):
    port = free_port()
    env = os.environ | {
        "VERDICTS_NATS_URL": settings.nats_url,
        "DATABASE_URL": settings.database_url,
        "VERDICTS_PORT": str(port),
        "VERDICTS_OUTBOX_POLL_S": "0.2",
        "VERDICTS_HOME": str(tmp_path_factory.mktemp("home")),
    }
    log = tmp_path_factory.mktemp("logs") / "ingest.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([VERDICTS, "run", "ingest"], env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
        created = subprocess.run(
            [VERDICTS, "keys", "create", "--name", "announce test", "--scopes", "admin"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        key = created.stdout.strip()
        assert key.startswith("vdk_")
        assert key not in created.stderr
        yield url, env | {"VERDICTS_API_URL": url, "VERDICTS_API_KEY": key}
    finally:
        proc.terminate()
        proc.wait(30)


def announce(env, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VERDICTS, "announce", str(path)], env=env, capture_output=True, text=True, timeout=120
    )


async def event_count(nats_url: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().stream_info(INGEST_STREAM.name)
        return info.state.messages
    finally:
        await nc.close()


async def settled_event_count(nats_url: str) -> int:
    import asyncio

    last = -1
    for _ in range(50):
        now = await event_count(nats_url)
        if now == last:
            return now
        last = now
        await asyncio.sleep(0.5)
    return last


async def test_announce_sample_then_again_then_one_change(ingest_api, settings, tmp_path):
    _, env = ingest_api
    first = announce(env, SAMPLE)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "12 accepted, 0 updated, 0 unchanged, 0 rejected"
    assert await settled_event_count(settings.nats_url) == 12

    again = announce(env, SAMPLE)
    assert again.stdout.strip() == "0 accepted, 0 updated, 12 unchanged, 0 rejected"
    assert await settled_event_count(settings.nats_url) == 12

    tools = json.loads(SAMPLE.read_text())
    tools[3]["description"] = "Gemini 2.5 Pro, described anew."
    changed = tmp_path / "changed.yaml"
    import yaml

    changed.write_text(yaml.safe_dump(tools, allow_unicode=True))
    third = announce(env, changed)
    assert third.stdout.strip() == "0 accepted, 1 updated, 11 unchanged, 0 rejected"
    assert await settled_event_count(settings.nats_url) == 13


async def test_rejected_items_are_listed_and_fail_the_command(ingest_api, tmp_path):
    _, env = ingest_api
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"name": "Only A Name"}]))
    result = announce(env, bad)
    assert result.returncode == 1
    assert "rejected item 0: invalid field" in result.stderr
    assert result.stdout.strip() == "0 accepted, 0 updated, 0 unchanged, 1 rejected"


def test_announcing_without_a_key_is_refused_in_one_line(ingest_api):
    _, env = ingest_api
    result = announce({k: v for k, v in env.items() if k != "VERDICTS_API_KEY"}, SAMPLE)
    assert result.returncode == 2
    assert "401" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_api_is_one_line(tmp_path):
    env = os.environ | {"VERDICTS_API_URL": f"http://127.0.0.1:{free_port()}"}
    result = announce(env, SAMPLE)
    assert result.returncode == 2
    assert "cannot reach the API" in result.stderr
    assert "Traceback" not in result.stderr
