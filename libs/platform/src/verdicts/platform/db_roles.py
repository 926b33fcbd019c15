"""One PostgreSQL role per schema, provisioned by a superuser (``verdicts up``, the test harness).

Each service's role owns its schema and nothing else: it may not connect to other databases of the
cluster's users, create schemas, use ``public``, or read another service's tables. The ``access``
schema (partner API keys) is owned by its own role, which applies its migrations and issues keys
(``verdicts keys``); every service role may read keys (``SELECT`` on ``api_keys``) and count usage
(``SELECT, INSERT, UPDATE`` on ``key_usage``), nothing more.

Passwords never reach the server in clear: ``CREATE/ALTER ROLE`` is sent the SCRAM-SHA-256 verifier
computed here, so no statement or log line of the server ever holds one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from verdicts.platform.access import store as access_store
from verdicts.platform.db import check_schema_name, migrate_connection

ACCESS = access_store.SCHEMA
SERVICE_SCHEMAS = ("ingest", "review_panel", "votes", "render", "inference")
"""Every service's schema (``tests/test_up.py`` and the registry keep this honest)."""
KEY_READS = ("api_keys", "schema_migrations")
KEY_COUNTERS = ("key_usage",)
SCRAM_ITERATIONS = 4096


def new_password() -> str:
    """A random password safe in URLs and SQL literals (``[A-Za-z0-9_-]``, 256 bits)."""
    return secrets.token_urlsafe(32)


def role_name(schema: str, prefix: str = "verdicts") -> str:
    return f"{prefix}_{check_schema_name(schema)}"


def url_variable(schema: str) -> str:
    """The environment variable naming a schema's own database URL (``VERDICTS_INGEST_DATABASE_URL``)."""
    return f"VERDICTS_{check_schema_name(schema).upper()}_DATABASE_URL"


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """What PostgreSQL stores for a SCRAM-SHA-256 password (RFC 5802/7677; ASCII passwords)."""
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def with_credentials(url: str, user: str, password: str, database: str | None = None) -> str:
    """``url`` (any credentials dropped) logged in as ``user``; optionally another database."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    path = f"/{database}" if database else parts.path
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))


def load_passwords(path: Path, schemas: Iterable[str]) -> dict[str, str]:
    """One password per schema's role, generated once and kept in ``path`` (0600, JSON)."""
    try:
        passwords = {str(k): str(v) for k, v in json.loads(path.read_text()).items()}
    except FileNotFoundError:
        passwords = {}
    missing = [s for s in schemas if s not in passwords]
    if missing:
        passwords.update({s: new_password() for s in missing})
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w") as handle:
            json.dump(passwords, handle)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    return passwords


async def provision(
    admin_url: str,
    passwords: Mapping[str, str],
    *,
    schemas: Iterable[str] = SERVICE_SCHEMAS,
    prefix: str = "verdicts",
) -> dict[str, str]:
    """Roles, schemas and grants in the database of ``admin_url`` (a superuser's); idempotent.

    Returns each schema's URL (``access`` included), logged in as its role. Objects an earlier
    version created as the superuser are handed to the schema's role.
    """
    service_schemas = [check_schema_name(s) for s in schemas]
    roles = {s: role_name(s, prefix) for s in [*service_schemas, ACCESS]}
    database = urlsplit(admin_url).path.lstrip("/")
    conn = await asyncpg.connect(admin_url)
    try:
        for schema, role in roles.items():
            await _login_role(conn, role, passwords[schema])
        service_roles = ", ".join(f'"{roles[s]}"' for s in service_schemas)
        async with conn.transaction():
            # Two harnesses provisioning one cluster at once take turns.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('verdicts.provision'))")
            await conn.execute(f'REVOKE ALL ON DATABASE "{database}" FROM PUBLIC')
            every_role = ", ".join(f'"{r}"' for r in roles.values())
            await conn.execute(f'GRANT CONNECT ON DATABASE "{database}" TO {every_role}')
            await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
            for schema, role in roles.items():
                await _owned_schema(conn, schema, role)
            # The access schema's tables exist before its grants: migrate as its owner.
            await conn.execute(f'SET LOCAL ROLE "{roles[ACCESS]}"')
            await migrate_connection(conn, ACCESS, access_store.MIGRATIONS, platform_tables=False)
            await conn.execute("RESET ROLE")
            await conn.execute(f"GRANT USAGE ON SCHEMA {ACCESS} TO {service_roles}")
            reads = ", ".join(f"{ACCESS}.{t}" for t in KEY_READS)
            await conn.execute(f"GRANT SELECT ON {reads} TO {service_roles}")
            counters = ", ".join(f"{ACCESS}.{t}" for t in KEY_COUNTERS)
            await conn.execute(f"GRANT SELECT, INSERT, UPDATE ON {counters} TO {service_roles}")
    finally:
        await conn.close()
    return {s: with_credentials(admin_url, role, passwords[s]) for s, role in roles.items()}


async def _login_role(conn: asyncpg.Connection, role: str, password: str) -> None:
    """Create or update ``role``: may log in with ``password``, nothing else."""
    verifier = scram_verifier(password)
    attributes = f"LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '{verifier}'"
    exists = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", role)
    if not exists:
        try:
            await conn.execute(f'CREATE ROLE "{role}" {attributes}')
            return
        except asyncpg.DuplicateObjectError:
            pass  # another harness made it first
    await conn.execute(f'ALTER ROLE "{role}" {attributes}')


async def _owned_schema(conn: asyncpg.Connection, schema: str, role: str) -> None:
    """``schema`` exists and it and everything in it belongs to ``role``."""
    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}" AUTHORIZATION "{role}"')
    await conn.execute(f'ALTER SCHEMA "{schema}" OWNER TO "{role}"')
    await conn.execute(f'REVOKE ALL ON SCHEMA "{schema}" FROM PUBLIC')
    # Relations (a table's own sequences follow it) and functions made earlier by another role.
    relations = await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
        "AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = $2)",
        schema,
        role,
    )
    for row in relations:
        await conn.execute(f'ALTER TABLE "{schema}"."{row["relname"]}" OWNER TO "{role}"')
    functions = await conn.fetch(
        "SELECT p.oid::regprocedure::text AS signature FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = $1 AND p.proowner <> (SELECT oid FROM pg_roles WHERE rolname = $2)",
        schema,
        role,
    )
    for row in functions:
        await conn.execute(f'ALTER ROUTINE {row["signature"]} OWNER TO "{role}"')
