"""The service can run its own model server: `vllm serve` on a GPU node, llama.cpp elsewhere.

It starts the server, waits for ``/v1/models``, restarts it when it dies (with
backoff) and reports it in readiness.
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
from verdicts.platform.embedded.process import ManagedProcess

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
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.models_url = models_url
        self.log_path = log_path
        self.start_timeout_s = start_timeout_s
        self.max_backoff_s = max_backoff_s
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
                    while self.process is not None and self.process.alive():  # noqa: ASYNC110 (a child process)
                        await asyncio.sleep(0.5)
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
