"""Secrets a service signs with: given in the environment (checked), or on the embedded stack a random
one generated once and kept owner-only in ``$VERDICTS_HOME``, so it survives restarts."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from verdicts.platform.settings import SettingsError

MIN_SECRET_CHARS = 32


def checked_secret(secret: str, variable: str) -> str:
    """``secret`` when it is long enough to sign with; a ``SettingsError`` naming ``variable`` else."""
    if len(secret) < MIN_SECRET_CHARS:
        raise SettingsError(f"{variable} must be at least {MIN_SECRET_CHARS} characters")
    return secret


def kept_secret(path: Path) -> str:
    """The secret in ``path``, generated (0600 from the start) on first use. Raises ``OSError``."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another process made it first: read theirs
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_urlsafe(48))
    return path.read_text().strip()
