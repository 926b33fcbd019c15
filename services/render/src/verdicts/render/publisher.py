"""Where pages go: a publisher interface, with a directory implementation (local, `verdicts up`)
and room for object storage. Writes are atomic: a reader sees the old page or the new, never half.

A batch (``publish_all``) is written with one sync for all its files, not one per file: every
file is written beside its target under a temporary name, the file system is synced once (all
their bytes on disk), then each is renamed over its target, and the file system is synced once
more (the renames on disk). A crash before the renames leaves the old files; after, the new ones,
whole: never an empty or half-written file (the rename of a file whose bytes are not yet on disk
is what leaves empty files after a crash). Where ``syncfs(2)`` is missing (not Linux), each file
and each directory touched is synced instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import secrets
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

File = tuple[str, bytes, str]
"""A file to publish: its site path (relative, '/'-separated), its bytes, its content type."""


class Publisher(Protocol):
    def publish(self, path: str, body: bytes, content_type: str) -> None:
        """Store ``body`` at ``path`` (relative, '/'-separated), replacing what was there."""

    def publish_all(self, files: Sequence[File]) -> None:
        """Store every file, each replacing what was there (a path given twice keeps its last)."""


def _syncfs() -> Callable[[int], int] | None:
    """``syncfs(2)`` from the C library (Linux), or ``None``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = libc.syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


SYNCFS = _syncfs()


class DirectoryPublisher:
    """Pages as files under ``root`` (created with the first page written)."""

    def __init__(self, root: Path) -> None:
        self.root = root.absolute()

    def resolve(self, path: str) -> Path:
        """The file a site path names; ``ValueError`` for a path outside the site."""
        return Path(self._resolver()(path))

    # Paths are plain strings here, not ``Path``s: a batch resolves thousands of them, and
    # pathlib's parsing and hashing were a tenth of a batch's publishing time.

    def _resolver(self) -> Callable[[str], str]:
        """``resolve`` for a batch of paths: the site's root and each directory resolved once, a
        file's own name resolved again only where it is a link (or "." / "..")."""
        root = str(self.root)
        real_root = os.path.realpath(root)
        inside = real_root.rstrip(os.sep) + os.sep
        directories: dict[str, str] = {}

        def resolve(path: str) -> str:
            named = os.path.join(root, path)
            folder, name = os.path.split(named)
            if name in ("", ".", ".."):
                target = os.path.realpath(named)
            else:
                if (real := directories.get(folder)) is None:
                    real = directories[folder] = os.path.realpath(folder)
                target = os.path.join(real, name)
                if os.path.islink(target):
                    target = os.path.realpath(target)
            if target != real_root and not target.startswith(inside):
                raise ValueError(f"{path!r} is outside the site")
            return target

        return resolve

    def publish(self, path: str, body: bytes, content_type: str) -> None:
        self.publish_all([(path, body, content_type)])

    def publish_all(self, files: Sequence[File]) -> None:
        resolve = self._resolver()
        latest = {resolve(path): body for path, body, _ in files}
        if not latest:
            return
        staged: list[tuple[str, str]] = []
        folders: set[str] = set()
        # One random name for the batch, numbered per file: O_EXCL refuses to reuse any name
        # (tempfile.mkstemp draws and joins a new name per file, in Python).
        batch = secrets.token_hex(8)
        try:
            for number, (target, body) in enumerate(latest.items()):
                folder = os.path.dirname(target)
                if folder not in folders:
                    os.makedirs(folder, exist_ok=True)
                    folders.add(folder)
                temporary = f"{folder}/.tmp-{batch}-{number}"
                descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                staged.append((temporary, target))
                try:
                    os.fchmod(descriptor, 0o644)
                    view = memoryview(body)
                    while view:
                        view = view[os.write(descriptor, view) :]
                    if SYNCFS is None:
                        os.fsync(descriptor)
                finally:
                    os.close(descriptor)
            self._sync()  # every byte on disk before any name points at it
            for temporary, target in staged:
                os.replace(temporary, target)  # atomic on POSIX within one file system
        except BaseException:
            for temporary, _ in staged:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temporary)
            raise
        self._sync(directories=folders)  # the renames on disk

    def _sync(self, directories: Iterable[str] = ()) -> None:
        """Flush the site's file system once (``syncfs``); without it, fsync ``directories``."""
        if SYNCFS is not None:
            descriptor = os.open(self.root, os.O_RDONLY)
            try:
                if SYNCFS(descriptor) != 0:
                    error = ctypes.get_errno()
                    raise OSError(error, os.strerror(error))
            finally:
                os.close(descriptor)
            return
        for directory in directories:
            descriptor = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
