"""Child processes that die with us: started, awaited until ready, stopped on exit.

Used by the embedded servers (``verdicts up``, tests) and by inference's model-server supervisor.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1


class EmbeddedError(RuntimeError):
    """A one-line, user-facing reason a child server could not start."""


def _child_setup(user: str | None, death_signal: int) -> Callable[[], None]:
    entry = pwd.getpwnam(user) if user else None

    def setup() -> None:
        if entry is not None:
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
        # After setuid (which would clear it): the kernel signals the child if we die.
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, death_signal)

    return setup


@dataclass
class ManagedProcess:
    name: str
    argv: Sequence[str]
    log_path: Path
    env: dict[str, str] | None = None
    user: str | None = None
    stop_signal: int = signal.SIGTERM
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            list(self.argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=self.cwd,
            preexec_fn=_child_setup(self.user, self.stop_signal),
        )
        log.close()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, probe: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise EmbeddedError(
                    f"{self.name} exited during start-up (code {self.returncode()}); "
                    f"see {self.log_path}: {self.log_tail()}"
                )
            with contextlib.suppress(Exception):  # not listening yet, or not ready
                if probe():
                    return
            time.sleep(0.1)
        self.stop()
        raise EmbeddedError(f"{self.name} was not ready after {timeout:.0f}s; see {self.log_path}")

    def returncode(self) -> int | None:
        return self.process.poll() if self.process else None

    def log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(self.stop_signal)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def kill(self) -> None:
        """SIGKILL, for fault tests."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
