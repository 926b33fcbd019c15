"""`verdicts up` from the outside: ready, status, data reused, clear errors, nothing left behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from verdicts.platform.embedded.process import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VERDICTS = str(Path(sys.executable).parent / "verdicts")


def stack_env(home: Path, ports: dict[str, int]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERDICTS_") and k != "DATABASE_URL"}
    env.update(
        VERDICTS_HOME=str(home),
        VERDICTS_PORT=str(ports["http"]),
        VERDICTS_NATS_PORT=str(ports["nats"]),
        VERDICTS_PG_PORT=str(ports["pg"]),
        VERDICTS_MODEL_PORT=str(ports["model"]),
        VERDICTS_SMTP_PORT=str(ports["smtp"]),
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def ports() -> dict[str, int]:
    return {name: free_port() for name in ("http", "nats", "pg", "model", "smtp")}


def eventually_file(folder: Path, pattern: str, within: float) -> Path:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = sorted(folder.glob(pattern)) if folder.exists() else []
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no {pattern} in {folder} within {within}s")


def start_up(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([VERDICTS, "up"], env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path, within: float = 120) -> dict:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"verdicts up exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2)
            if response.status_code == 200:
                return response.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"not ready in {within}s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes], sig: int) -> list[psutil.Process]:
    children = psutil.Process(proc.pid).children(recursive=True)
    assert children, "verdicts up started no servers"
    proc.send_signal(sig)
    proc.wait(60)
    _gone, alive = psutil.wait_procs(children, timeout=20)
    return alive


def eventually_text(url: str, *texts: str, within: float = 60) -> str:
    """The page at ``url`` once it holds one of ``texts``."""
    deadline = time.monotonic() + within
    body = ""
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            body = httpx.get(url, timeout=5).text
            if any(text in body for text in texts):
                return body
        time.sleep(0.5)
    raise AssertionError(f"{url} never showed {texts}: {body[:2000]}")


def test_up_is_ready_reports_status_and_stops_cleanly(tmp_path, ports):
    home = tmp_path / "home"
    env = stack_env(home, ports) | {"VERDICTS_DEMO": "0"}  # the empty site first; the demo below
    log = tmp_path / "up.log"
    proc = start_up(env, log)
    try:
        ready = wait_ready(proc, ports["http"], log)
        # An empty site is an HTML page that says how to add tools, not a JSON 404.
        empty = httpx.get(f"http://127.0.0.1:{ports['http']}/")
        assert empty.status_code == 200, empty.text
        assert empty.headers["content-type"].startswith("text/html")
        assert "No tools yet" in empty.text
        assert "verdicts announce" in empty.text
        assert ready["checks"] == {"broker": "ok", "database": "ok", "model": "ok", "ballot-publisher": "ok"}
        assert set(ready["services"]) == {"ingest", "review-panel", "votes", "render", "inference"}
        assert "Verdicts is up." in log.read_text()
        key_file = home / "admin.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert f"Admin API key written to {key_file.resolve()}" in log.read_text()
        admin_key = key_file.read_text().strip()
        assert admin_key not in log.read_text()
        keys_listed = subprocess.run(
            [VERDICTS, "keys", "list", "--json"], env=env, capture_output=True, text=True, check=True
        )
        assert [k["scopes"] for k in json.loads(keys_listed.stdout)] == [["admin"]]
        assert admin_key not in keys_listed.stdout
        assert f"nats://127.0.0.1:{ports['nats']}" in log.read_text()
        assert "admin:" not in log.read_text()  # printed URLs carry no credentials
        assert stat.S_IMODE((home / "stack.json").stat().st_mode) == 0o600
        for secret in (home / "nats" / "secrets").iterdir():
            assert stat.S_IMODE(secret.stat().st_mode) == 0o600
            assert secret.read_text().strip() not in log.read_text()
        # Every service started its consumers within its own NATS user's rights.
        assert "Violation" not in (home / "nats" / "nats-server.log").read_text()
        # No SMTP server set: render mails through the local sink, which keeps each mail as a file.
        signed_up = httpx.post(
            f"http://127.0.0.1:{ports['http']}/v1/subscribers", json={"email": "dev@example.com"}
        )
        assert signed_up.status_code == 202, signed_up.text
        mail = eventually_file(home / "mail", "*.eml", within=30)
        assert b"Confirm your subscription" in mail.read_bytes()
        assert f"Mail          {(home / 'mail').resolve()}" in log.read_text()

        status = subprocess.run(
            [VERDICTS, "status", "--json"], env=env, capture_output=True, text=True, check=True
        )
        report = json.loads(status.stdout)
        # PostgreSQL: SCRAM passwords kept owner-only, none of them printed; the URL shown has none.
        assert f"PostgreSQL    postgresql://127.0.0.1:{ports['pg']}/verdicts\n" in log.read_text()
        superuser = home / "postgres" / "superuser.password"
        roles = home / "postgres" / "roles.json"
        assert stat.S_IMODE(superuser.stat().st_mode) == stat.S_IMODE(roles.stat().st_mode) == 0o600
        secrets = [superuser.read_text().strip(), *json.loads(roles.read_text()).values()]
        printed = log.read_text() + status.stdout + status.stderr + keys_listed.stdout + keys_listed.stderr
        assert all(secret and secret not in printed for secret in secrets)
        state = json.loads((home / "stack.json").read_text())
        assert secrets[0] not in json.dumps(state)  # the superuser stays with `verdicts up`
        assert "trust" not in (home / "postgres" / "pgdata" / "pg_hba.conf").read_text()
        assert set(report["streams"]) == {"INGEST", "PANEL", "VOTES", "RENDER", "DEADLETTER"}
        assert report["streams"]["VOTES"]["discard"] == "new"  # accepted ballots are never dropped
        assert report["dead_letters"] == 0
        assert set(report["schemas"]) == {"access", "ingest", "review_panel", "votes", "render", "inference"}
        assert "platform/001_outbox.sql" in report["schemas"]["ingest"]["migrations"]
        assert report["model"]["models"] == ["smollm2-135m-instruct"]

        # A second `verdicts up` on the same home is refused in one line.
        second = subprocess.run([VERDICTS, "up"], env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        assert "in use by another `verdicts up`" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        alive = stop(proc, signal.SIGINT)
    assert proc.returncode == 0, log.read_text()[-2000:]
    assert alive == []

    # SIGTERM works the same, and the data is reused: no initdb, the streams are still there. The
    # catalogue is still empty, so this start announces the demo and the home page shows progress.
    proc = start_up(env | {"VERDICTS_DEMO": "1"}, log)
    try:
        wait_ready(proc, ports["http"], log)
        base = f"http://127.0.0.1:{ports['http']}"
        eventually_text(f"{base}/v1/tools?limit=50", '"cursor"', within=60)
        assert len(httpx.get(f"{base}/v1/tools?limit=50").json()["items"]) == 12
        assert log.read_text().count("Announced the demo catalogue (12 tools") == 1
        progress = eventually_text(f"{base}/", "Panels complete:", "Latest comparisons", within=60)
        assert "No tools yet" not in progress
        assert (home / "postgres" / "pgdata" / "PG_VERSION").exists()
        assert (home / "admin.key").read_text().strip() == admin_key  # kept, not re-issued
    finally:
        alive = stop(proc, signal.SIGTERM)
    assert alive == []


def test_a_busy_port_is_explained_in_one_line(tmp_path, ports):
    import socket

    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", ports["http"]))
        blocker.listen()
        result = subprocess.run(
            [VERDICTS, "up"], env=stack_env(tmp_path, ports), capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"verdicts: port {ports['http']} for the HTTP API is already in use: stop whatever listens "
        "there or set VERDICTS_PORT to another port"
    )
    assert "Traceback" not in result.stderr


def test_a_wrong_setting_stops_start_up_naming_the_variable(tmp_path, ports):
    env = stack_env(tmp_path, ports) | {"VERDICTS_NATS_URL": "http://nope"}
    result = subprocess.run([VERDICTS, "up"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "invalid setting VERDICTS_NATS_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_stale_lock_is_taken_over_with_a_note(tmp_path, ports):
    home = tmp_path / "home"
    home.mkdir()
    (home / "verdicts.lock").write_text("999999")
    env = stack_env(home, ports)
    log = tmp_path / "up.log"
    proc = start_up(env, log)
    try:
        wait_ready(proc, ports["http"], log)
    finally:
        stop(proc, signal.SIGINT)
    assert "did not shut down cleanly; its stale lock was taken over" in log.read_text()
