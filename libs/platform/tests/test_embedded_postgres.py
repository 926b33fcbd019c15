"""The embedded PostgreSQL asks everyone for a SCRAM password, and keeps the superuser's to itself."""

from __future__ import annotations

import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from verdicts.platform.db_roles import scram_verifier
from verdicts.platform.embedded.postgres import EmbeddedPostgres, _bin_dir, _grant, _run_as, strip_credentials
from verdicts.platform.embedded.process import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def folder() -> Iterator[Path]:
    """Not pytest's tmp_path: the postgres system user must reach it, whoever else runs pytest here."""
    path = Path(tempfile.mkdtemp(prefix="verdicts-pg-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def hba_methods(server: EmbeddedPostgres) -> set[str]:
    lines = (server.pgdata / "pg_hba.conf").read_text().splitlines()
    return {line.split()[-1] for line in lines if line.strip() and not line.lstrip().startswith("#")}


async def refused_without_password(server: EmbeddedPostgres) -> None:
    with pytest.raises((asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)):
        await asyncpg.connect(f"postgresql://postgres@{server.host}:{server.port}/postgres", password="")
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(server.url(password="wrong"))


async def test_a_fresh_server_needs_the_superusers_password(folder: Path) -> None:
    server = EmbeddedPostgres(folder / "pg", port=free_port(), durable=False)
    server.start()
    try:
        assert hba_methods(server) == {"scram-sha-256"}
        assert stat.S_IMODE(server.password_file.stat().st_mode) == 0o600
        await refused_without_password(server)
        conn = await asyncpg.connect(server.url())
        try:
            assert await conn.fetchval("SHOW password_encryption") == "scram-sha-256"
            assert await conn.fetchval("SHOW listen_addresses") == "127.0.0.1"
        finally:
            await conn.close()
        assert server.password not in server.public_url()
        assert strip_credentials(server.url()) == server.public_url()
    finally:
        server.stop()


def initdb_with_trust(server: EmbeddedPostgres) -> None:
    """What earlier versions did."""
    user = _run_as()
    server.data_dir.mkdir(parents=True)
    _grant(server.data_dir, user)
    subprocess.run(
        [str(_bin_dir() / "initdb"), "-D", str(server.pgdata), "--auth=trust", "-U", "postgres"],
        check=True,
        capture_output=True,
        user=user,
    )


async def test_a_data_folder_made_with_trust_is_switched_to_passwords(folder: Path) -> None:
    server = EmbeddedPostgres(folder / "pg", port=free_port(), durable=False)
    initdb_with_trust(server)
    assert "trust" in hba_methods(server)
    server.start()
    try:
        assert hba_methods(server) == {"scram-sha-256"}
        await refused_without_password(server)
        conn = await asyncpg.connect(server.url())
        await conn.close()
    finally:
        server.stop()


def test_scram_verifiers_match_the_rfc_7677_example() -> None:
    # RFC 7677 section 3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 rounds.
    import base64

    verifier = scram_verifier("pencil", salt=base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="))
    assert verifier.startswith("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$")
    # ServerSignature in the RFC is HMAC(ServerKey, AuthMessage); check ServerKey through it.
    import hashlib
    import hmac

    server_key = base64.b64decode(verifier.rsplit(":", 1)[1])
    auth_message = (
        b"n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    )
    signature = hmac.new(server_key, auth_message, hashlib.sha256).digest()
    assert base64.b64encode(signature) == b"6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
