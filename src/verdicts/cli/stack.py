"""`verdicts up`: embedded nats-server, PostgreSQL and llama.cpp, then every service.

Each embedded server is skipped when its URL is given in the environment. The embedded PostgreSQL's
superuser is used here only, to provision one role per service (``verdicts.platform.db_roles``);
the services get their own roles' URLs (``VERDICTS_<SCHEMA>_DATABASE_URL``), never the superuser's.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from verdicts.platform import db_roles
from verdicts.platform.broker import without_credentials
from verdicts.platform.embedded.llama import EmbeddedLlama
from verdicts.platform.embedded.nats import EmbeddedNats
from verdicts.platform.embedded.postgres import EmbeddedPostgres, strip_credentials
from verdicts.platform.embedded.process import EmbeddedError, check_port_free
from verdicts.platform.embedded.smtp import EmbeddedSmtp
from verdicts.platform.settings import PlatformSettings

STACK_FILE = "stack.json"
ROLES_FILE = "roles.json"
"""The services' database role passwords, beside the embedded PostgreSQL's data (0600)."""
LOCK_FILE = "verdicts.lock"


class EmbeddedSettings(BaseSettings):
    """What `verdicts up` starts: the embedded servers' ports, and whether it announces the demo."""

    model_config = SettingsConfigDict(env_prefix="VERDICTS_", extra="ignore")

    nats_port: int = Field(default=4222, ge=1, le=65535)
    pg_port: int = Field(default=54329, ge=1, le=65535)
    model_port: int = Field(default=8088, ge=1, le=65535)
    # The local SMTP sink, started when VERDICTS_RENDER_SMTP_HOST is not set (mails kept in home/mail).
    smtp_port: int = Field(default=2525, ge=1, le=65535)
    # VERDICTS_DEMO=0: start with an empty catalogue instead of announcing data/tools.sample.json.
    demo: bool = True


class Stoppable(Protocol):
    def stop(self) -> None: ...


@dataclass
class Stack:
    home: Path
    nats_url: str = ""
    database_url: str = ""
    # Each schema's own role (embedded PostgreSQL): VERDICTS_<SCHEMA>_DATABASE_URL; ``access`` is
    # the keys schema's owner, for the CLI (`verdicts keys`), not handed to the services.
    database_urls: dict[str, str] = field(default_factory=dict)
    public_database_url: str = ""
    model_url: str = ""
    # The embedded nats-server's service users: VERDICTS_<SERVICE>_NATS_USER / _NATS_PASSWORD_FILE.
    nats_env: dict[str, str] = field(default_factory=dict)
    # The local SMTP sink's address for render (VERDICTS_RENDER_SMTP_*), when one was started.
    smtp_env: dict[str, str] = field(default_factory=dict)
    started: list[tuple[str, Stoppable]] = field(default_factory=list)

    @property
    def public_nats_url(self) -> str:
        """The NATS URL without credentials (the one to print)."""
        return without_credentials(self.nats_url)

    @property
    def keys_database_url(self) -> str:
        """Where keys are issued: the access schema's owner, else the shared URL."""
        return self.database_urls.get(db_roles.ACCESS) or self.database_url

    def environment(self) -> dict[str, str]:
        return {
            "VERDICTS_NATS_URL": self.nats_url,
            "DATABASE_URL": self.database_url,
            **{
                db_roles.url_variable(schema): url
                for schema, url in self.database_urls.items()
                if schema != db_roles.ACCESS
            },
            "VERDICTS_MODEL_URL": self.model_url,
            **self.nats_env,
            **self.smtp_env,
        }

    def write_state(self, http_url: str) -> None:
        """``stack.json`` for the CLI's other commands; its URLs carry credentials, so owner-only."""
        state = {**self.environment(), "http_url": http_url, "pid": os.getpid()}
        if db_roles.ACCESS in self.database_urls:
            state[db_roles.url_variable(db_roles.ACCESS)] = self.database_urls[db_roles.ACCESS]
        path = self.home / STACK_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(state, indent=2))

    def stop(self) -> None:
        for _, server in reversed(self.started):
            with contextlib.suppress(Exception):
                server.stop()
        self.started.clear()
        with contextlib.suppress(OSError):
            (self.home / STACK_FILE).unlink()


@contextlib.contextmanager
def home_lock(home: Path) -> Iterator[str | None]:
    """Hold ``$VERDICTS_HOME/verdicts.lock``; yields a note when an earlier run left it behind."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / LOCK_FILE
    note = None
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise EmbeddedError(
            f"{home} is in use by another `verdicts up` (pid {holder}): stop it first, "
            "or set VERDICTS_HOME to another folder"
        ) from None
    handle.seek(0)
    previous = handle.read().strip()
    if previous:
        note = f"an earlier run (pid {previous}) did not shut down cleanly; its stale lock was taken over"
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield note
    finally:
        handle.seek(0)
        handle.truncate()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


class EmbeddedServer(Stoppable, Protocol):
    def start(self) -> None: ...


def _given_or_started(
    stack: Stack,
    given: str,
    what: str,
    port: int,
    variable: str,
    make: Callable[[], EmbeddedServer],
    url_of: Callable[[Any], str],
) -> str:
    """The URL from the environment, or that of an embedded server started on ``port``."""
    if given:
        return given
    check_port_free(port, what, variable)
    server = make()
    server.start()
    stack.started.append((what, server))
    return url_of(server)


def _embedded_nats_url(stack: Stack, server: EmbeddedNats) -> str:
    """The admin's URL (streams, CLI); each service connects as its own user (``stack.nats_env``)."""
    stack.nats_env = server.service_environment()
    return server.url


def _embedded_database(stack: Stack, server: EmbeddedPostgres) -> str:
    """Provision every service's role with the superuser, then forget it: no shared URL (``""``)."""
    from verdicts.cli.registry import SERVICE_MODULES, schema_of

    schemas = [schema_of(name) for name in SERVICE_MODULES]
    passwords = db_roles.load_passwords(server.data_dir / ROLES_FILE, [*schemas, db_roles.ACCESS])
    stack.database_urls = asyncio.run(db_roles.provision(server.url(), passwords, schemas=schemas))
    stack.public_database_url = server.public_url()
    return ""


def _embedded_smtp(stack: Stack, server: EmbeddedSmtp) -> str:
    """render mails through the sink; what it receives lands in ``home/mail/*.eml``."""
    stack.smtp_env = server.environment()
    return f"smtp://{server.host}:{server.port}"


def start_stack(settings: PlatformSettings, ports: EmbeddedSettings) -> Stack:
    """Start what is not given by URL; on any failure stop what was started."""
    home = settings.home.resolve()
    stack = Stack(home=home)
    try:
        check_port_free(settings.port, "the HTTP API", "VERDICTS_PORT")
        stack.nats_url = _given_or_started(
            stack,
            settings.nats_url,
            "nats-server",
            ports.nats_port,
            "VERDICTS_NATS_PORT",
            lambda: EmbeddedNats(home / "nats", port=ports.nats_port),
            lambda s: _embedded_nats_url(stack, s),
        )
        stack.database_url = _given_or_started(
            stack,
            settings.database_url,
            "PostgreSQL",
            ports.pg_port,
            "VERDICTS_PG_PORT",
            lambda: EmbeddedPostgres(home / "postgres", port=ports.pg_port),
            lambda s: _embedded_database(stack, s),
        )
        stack.public_database_url = stack.public_database_url or strip_credentials(stack.database_url)
        stack.model_url = _given_or_started(
            stack,
            settings.model_url,
            "the llama.cpp model server",
            ports.model_port,
            "VERDICTS_MODEL_PORT",
            lambda: EmbeddedLlama(home / "llama", port=ports.model_port),
            lambda s: s.url,
        )
        if not os.environ.get("VERDICTS_RENDER_SMTP_HOST"):
            _given_or_started(
                stack,
                "",
                "the SMTP sink",
                ports.smtp_port,
                "VERDICTS_SMTP_PORT",
                lambda: EmbeddedSmtp(home / "mail", port=ports.smtp_port),
                lambda s: _embedded_smtp(stack, s),
            )
    except BaseException:
        stack.stop()
        raise
    return stack


def raise_keyboard_interrupt_on_sigterm() -> None:
    """SIGTERM during start-up unwinds like Ctrl-C, so started servers are stopped."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
