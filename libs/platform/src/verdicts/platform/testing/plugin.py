"""pytest harness: the real nats-server, PostgreSQL and llama.cpp, once per run.

Servers start lazily on free ports in a temp dir and stop at the end of the run
(and with the test process, through the parent-death signal). Each test module
gets a fresh database and empty streams. Set ``DATABASE_URL`` to use another
PostgreSQL (module databases are then created there; it must be a superuser's URL for the
per-service roles, otherwise services under test share it).

The ``database_url`` and ``db`` fixtures are the superuser's (tests look at anything with them);
the ``settings`` fixture logs each service in as its own role (``verdicts.platform.db_roles``), as
``verdicts up`` does, so a test's app runs with the rights production gives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Literal

import asyncpg
import nats
import pytest
from nats.js.errors import NotFoundError

from verdicts.contracts.subjects import ALL_STREAMS
from verdicts.platform import db_roles
from verdicts.platform.embedded.llama import EmbeddedLlama
from verdicts.platform.embedded.nats import EmbeddedNats
from verdicts.platform.embedded.postgres import EmbeddedPostgres
from verdicts.platform.embedded.process import free_port
from verdicts.platform.settings import PlatformSettings
from verdicts.platform.streams import provision_streams

SERVER_FIXTURES = frozenset({"nats_server", "postgres_server", "llama_server", "vllm_stand_in"})


def pytest_configure(config: pytest.Config) -> None:
    # Tests read whole traces (and the services they start inherit this): record every one.
    os.environ.setdefault("VERDICTS_TRACE_SAMPLE_RATIO", "1")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """``pytest -m unit`` starts no server: a unit test that asks for one is a mistake."""
    if item.get_closest_marker("unit") is not None:
        wanted = SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if wanted:
            pytest.fail(f"a unit test must not start servers (it asks for {', '.join(sorted(wanted))})")


@pytest.fixture(scope="session")
def servers_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="verdicts-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def nats_server(servers_dir: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(servers_dir / "nats", port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server(servers_dir: Path) -> Iterator[EmbeddedPostgres | None]:
    if os.environ.get("DATABASE_URL"):
        yield None
        return
    server = EmbeddedPostgres(servers_dir / "postgres", port=free_port(), durable=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def llama_server(servers_dir: Path) -> Iterator[EmbeddedLlama]:
    server = EmbeddedLlama(servers_dir / "llama", port=free_port())
    server.start()
    yield server
    server.stop()


# What the `smollm3` route is pointed at in tests: a second llama.cpp server under its own model
# name. It speaks vLLM's wire format (OpenAI chat completions, response_format json_schema).
VLLM_STAND_IN_MODEL = "smollm3-stand-in"


@pytest.fixture(scope="session")
def vllm_stand_in(servers_dir: Path) -> Iterator[EmbeddedLlama]:
    server = EmbeddedLlama(
        servers_dir / "vllm-stand-in", port=free_port(), alias=VLLM_STAND_IN_MODEL, parallel=1
    )
    server.start()
    yield server
    server.stop()


def _module_db_name(request: pytest.FixtureRequest) -> str:
    base = re.sub(r"[^a-z0-9_]", "_", request.module.__name__.rsplit(".", 1)[-1].lower())
    return f"t_{base[:40]}_{uuid.uuid4().hex[:8]}"


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def database_url(
    request: pytest.FixtureRequest, postgres_server: EmbeddedPostgres | None
) -> AsyncIterator[str]:
    """A fresh, empty database for this test module."""
    name = _module_db_name(request)
    if postgres_server is not None:
        admin = postgres_server.url("postgres")
        url = postgres_server.url(name)
    else:
        base = os.environ["DATABASE_URL"]
        admin = base.rsplit("/", 1)[0] + "/postgres"
        url = base.rsplit("/", 1)[0] + f"/{name}"
    await _admin(admin, f'CREATE DATABASE "{name}"')
    yield url
    await _admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def role_passwords(postgres_server: EmbeddedPostgres | None) -> Iterator[tuple[str, dict[str, str]]]:
    """The services' role prefix and passwords for this run (fresh names on a shared server)."""
    prefix = "verdicts" if postgres_server is not None else f"verdicts_t{uuid.uuid4().hex[:8]}"
    schemas = [*db_roles.SERVICE_SCHEMAS, db_roles.ACCESS]
    yield prefix, {schema: db_roles.new_password() for schema in schemas}
    if postgres_server is None and os.environ.get("DATABASE_URL"):
        asyncio.run(_drop_roles(os.environ["DATABASE_URL"], [db_roles.role_name(s, prefix) for s in schemas]))


async def _drop_roles(url: str, roles: list[str]) -> None:
    with contextlib.suppress(Exception):
        conn = await asyncpg.connect(url)
        try:
            for role in roles:
                with contextlib.suppress(asyncpg.PostgresError):
                    await conn.execute(f'DROP ROLE IF EXISTS "{role}"')
        finally:
            await conn.close()


@pytest.fixture(scope="module")
async def service_database_urls(
    database_url: str, role_passwords: tuple[str, dict[str, str]]
) -> dict[str, str]:
    """Each schema's URL in the module's database, logged in as its own role (``access`` too).

    Empty when the server's URL may not create roles: the services then share ``database_url``."""
    prefix, passwords = role_passwords
    try:
        return await db_roles.provision(database_url, passwords, prefix=prefix)
    except asyncpg.InsufficientPrivilegeError:
        return {}


@pytest.fixture(scope="module")
async def nats_url(nats_server: EmbeddedNats) -> str:
    """The session nats-server with every stream emptied for this module: the admin user's URL
    (``deploy/nats/nats-server.conf``), so tests may look at and publish anything."""
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        for stream in ALL_STREAMS:
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(stream.name)
    finally:
        await nc.close()
    await provision_streams(nats_server.url, duplicate_window_s=120)
    return nats_server.url


@pytest.fixture(scope="module")
def settings(
    nats_server: EmbeddedNats, nats_url: str, database_url: str, service_database_urls: dict[str, str]
) -> PlatformSettings:
    """Platform settings pointing at the harness servers, fast retries for tests; each known
    service logs in as its own role (the access schema's owner stays with the harness) and
    connects to NATS as its own user (``nats_url`` itself is the admin's, for the tests)."""
    return PlatformSettings(
        nats_url=nats_url,
        nats_logins=nats_server.service_logins(),
        database_url=database_url,
        database_urls={k: v for k, v in service_database_urls.items() if k != db_roles.ACCESS},
        max_deliver=3,
        ack_wait_s=5,
        outbox_poll_s=0.2,
        outbox_max_backoff_s=0.5,
        log_json=False,
    )


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    """Environment changes for a module's shared app fixtures (undone after the module)."""
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the module's database, for looking at what the services stored."""
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


async def eventually(predicate: Any, within: float = 10.0, interval: float = 0.05) -> Any:
    """Await ``predicate()`` (sync or async) until truthy; returns its value."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def served(app: Any, *, lifespan: Literal["auto", "on", "off"] = "on") -> AsyncIterator[str]:
    """Serve an ASGI app on a free local port in this event loop; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan=lifespan))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped during start-up")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
