"""The service can run its own model server: `vllm serve` on a GPU node, llama.cpp elsewhere.

It starts the server, waits for ``/v1/models``, keeps asking ``/v1/models`` while it runs,
restarts it (with backoff) when it dies or stops answering, and reports it in readiness.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx

from verdicts.inference.config import InferenceSettings
from verdicts.platform.processes import ManagedProcess

log = logging.getLogger(__name__)


def vllm_argv(settings: InferenceSettings) -> list[str]:
    """The `vllm serve` command line for SmolLM3, built from config."""
    executable = shutil.which("vllm") or str(Path(sys.executable).parent / "vllm")
    return [
        executable,
        "serve",
        settings.vllm_model,
        "--host", "127.0.0.1",
        "--port", str(settings.vllm_port),
        "--max-model-len", str(settings.vllm_max_model_len),
        "--gpu-memory-utilization", str(settings.vllm_gpu_memory_utilization),
        "--dtype", "auto",
        "--generation-config", "vllm",
        *shlex.split(settings.vllm_extra_args),
    ]  # fmt: skip


class ModelServerSupervisor:
    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        models_url: str,
        log_path: Path,
        *,
        start_timeout_s: float = 600.0,
        max_backoff_s: float = 30.0,
        check_interval_s: float = 5.0,
        unanswered_checks: int = 3,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.models_url = models_url
        self.log_path = log_path
        self.start_timeout_s = start_timeout_s
        self.max_backoff_s = max_backoff_s
        self.check_interval_s = check_interval_s
        self.unanswered_checks = unanswered_checks
        self.process: ManagedProcess | None = None
        self.restarts = 0
        self.status = "starting"

    async def _healthy(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                return (await client.get(self.models_url)).status_code == 200
        except httpx.HTTPError:
            return False

    async def _start_and_wait(self) -> bool:
        self.process = ManagedProcess(self.name, self.argv, self.log_path)
        self.process.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout_s
        while loop.time() < deadline:
            if not self.process.alive():
                return False
            if await self._healthy():
                return True
            await asyncio.sleep(0.25)
        self.process.stop()
        return False

    async def _watch(self) -> None:
        """Return when the server died, or stopped it after it left ``unanswered_checks`` unanswered."""
        assert self.process is not None
        unanswered = 0
        while self.process.alive():
            await asyncio.sleep(self.check_interval_s)
            if not self.process.alive():
                return
            unanswered = 0 if await self._healthy() else unanswered + 1
            if unanswered >= self.unanswered_checks:
                log.warning("model server stopped answering", extra={"server": self.name})
                # A hung server may ignore SIGTERM: a short grace, then SIGKILL.
                await asyncio.to_thread(self.process.stop, 5.0)
                return

    async def run(self) -> None:
        """Keep the server up until cancelled."""
        backoff = 1.0
        try:
            while True:
                self.status = "starting"
                if await self._start_and_wait():
                    self.status = "ok"
                    backoff = 1.0
                    log.info("model server ready", extra={"server": self.name, "restarts": self.restarts})
                    await self._watch()
                self.status = "restarting"
                self.restarts += 1
                log.warning(
                    "model server down; restarting", extra={"server": self.name, "backoff_s": backoff}
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
        finally:
            if self.process is not None:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.process.stop)
