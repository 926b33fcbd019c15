"""Where pages go: a publisher interface, with a directory implementation (local, `verdicts up`)
and room for object storage. Writes are atomic: a reader sees the old page or the new, never half."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Protocol


class Publisher(Protocol):
    def publish(self, path: str, body: bytes, content_type: str) -> None:
        """Store ``body`` at ``path`` (relative, '/'-separated), replacing what was there."""


class DirectoryPublisher:
    """Pages as files under ``root`` (created with the first page written)."""

    def __init__(self, root: Path) -> None:
        self.root = root.absolute()

    def resolve(self, path: str) -> Path:
        """The file a site path names; ``ValueError`` for a path outside the site."""
        target = (self.root / path).resolve()
        if not target.is_relative_to(self.root.resolve()):
            raise ValueError(f"{path!r} is outside the site")
        return target

    def publish(self, path: str, body: bytes, content_type: str) -> None:
        target = self.resolve(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(body)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temporary, 0o644)
            os.replace(temporary, target)  # atomic on POSIX within one file system
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
