"""`verdicts keys`: partner API keys, and the admin key `verdicts up` keeps for the CLI.

The admin key lives in ``$VERDICTS_HOME/admin.key`` (0600, written atomically); `verdicts announce`
and `verdicts review` send it unless ``VERDICTS_API_KEY`` names another key.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import asyncpg

from verdicts.cli.status import discover
from verdicts.platform.access import store
from verdicts.platform.access.issuing import ensure_schema, issue_key
from verdicts.platform.access.keys import MalformedKey, Scope, digest, parse_key

ADMIN_KEY_FILE = "admin.key"


class KeysError(Exception):
    """A keys command cannot go on; its text says why."""


def database_url(home: Path) -> str:
    """The keys schema's owner (``verdicts up`` keeps it in stack.json), else ``DATABASE_URL``."""
    found = discover(home)
    url = found.get("VERDICTS_ACCESS_DATABASE_URL") or found.get("DATABASE_URL", "")
    if not url:
        raise KeysError("no database: set DATABASE_URL, or start `verdicts up` first")
    return url


async def _pool(url: str) -> asyncpg.Pool:
    try:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    except (OSError, asyncpg.PostgresError) as exc:
        raise KeysError(f"cannot reach PostgreSQL: {exc.__class__.__name__}") from None
    assert pool is not None
    return pool


async def create(url: str, name: str, scopes: frozenset[Scope], vendors: frozenset[str]) -> tuple[str, str]:
    """A new key: ``(key id, secret key)``."""
    pool = await _pool(url)
    try:
        secret, key = await issue_key(pool, name, scopes, vendors)
    except ValueError as exc:
        raise KeysError(str(exc)) from None
    finally:
        await pool.close()
    return key.key_id, secret


async def listing(url: str) -> list[dict[str, Any]]:
    pool = await _pool(url)
    try:
        await ensure_schema(pool)
        rows = await store.list_keys(pool)
    finally:
        await pool.close()
    return [
        {
            "id": r["key_id"],
            "name": r["name"],
            "scopes": list(r["scopes"]),
            "vendors": list(r["vendors"]),
            "created_at": r["created_at"].isoformat(),
            "revoked_at": r["revoked_at"].isoformat() if r["revoked_at"] else None,
        }
        for r in rows
    ]


async def revoke(url: str, key_id: str) -> bool:
    pool = await _pool(url)
    try:
        await ensure_schema(pool)
        return await store.revoke_key(pool, key_id)
    finally:
        await pool.close()


async def ensure_admin_key(home: Path, url: str) -> tuple[Path, bool]:
    """The admin key file, created with a fresh key unless it holds a live key: ``(path, created)``."""
    path = home / ADMIN_KEY_FILE
    pool = await _pool(url)
    try:
        await ensure_schema(pool)
        if path.exists() and await _live(pool, path.read_text().strip()):
            return path, False
        secret, _ = await issue_key(pool, "admin (verdicts up)", frozenset({Scope.ADMIN}))
    finally:
        await pool.close()
    write_secret(path, secret)
    return path, True


async def _live(pool: asyncpg.Pool, secret: str) -> bool:
    try:
        key_id = parse_key(secret)
    except MalformedKey:
        return False
    key = await store.find_key(pool, key_id, digest(secret))
    return key is not None and not key.revoked and Scope.ADMIN in key.scopes


def write_secret(path: Path, secret: str) -> None:
    """Write ``secret`` readable by its owner only, replacing any earlier file in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secret + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def api_key(home: Path) -> str | None:
    """The key the CLI sends: ``VERDICTS_API_KEY``, else the admin key `verdicts up` wrote."""
    if os.environ.get("VERDICTS_API_KEY"):
        return os.environ["VERDICTS_API_KEY"].strip()
    path = home / ADMIN_KEY_FILE
    return path.read_text().strip() if path.exists() else None


def auth_headers(home: Path) -> dict[str, str]:
    key = api_key(home)
    return {"Authorization": f"Bearer {key}"} if key else {}
