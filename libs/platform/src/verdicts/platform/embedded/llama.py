"""llama.cpp's server (``verdicts.platform.model_server``) as a managed child process.

A crash of the native server never takes the caller down, and the caller can stop or kill it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import httpx

from verdicts.platform.embedded.process import EmbeddedError, ManagedProcess
from verdicts.platform.model_server import LOCAL_MODEL_ALIAS, ModelNotInstalled, server_argv, smollm2_gguf


@dataclass
class EmbeddedLlama:
    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    # Per slot: a review prompt (~900 tokens) plus its answer fits with room to spare.
    n_ctx_per_slot: int = 2048
    parallel: int = 2
    alias: str = LOCAL_MODEL_ALIAS
    process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        """OpenAI-compatible base URL."""
        return f"http://{self.host}:{self.port}/v1"

    def argv(self, model: Path) -> list[str]:
        return server_argv(
            model,
            port=self.port,
            host=self.host,
            alias=self.alias,
            ctx_per_slot=self.n_ctx_per_slot,
            parallel=self.parallel,
        )

    def start(self, timeout: float = 120.0) -> None:
        if importlib.util.find_spec("xllamacpp") is None:
            raise EmbeddedError("xllamacpp is not installed in this environment: run `make sync`")
        try:
            model = smollm2_gguf()
        except ModelNotInstalled as exc:
            raise EmbeddedError(str(exc)) from None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(
            "llama.cpp server", self.argv(model), self.data_dir / "llama-server.log"
        )
        self.process.start()
        self.process.wait_ready(self.answers, timeout)

    def answers(self) -> bool:
        """Whether the server lists its model (what vLLM's readiness probe asks too)."""
        return httpx.get(f"{self.url}/models", timeout=1.0).status_code == 200

    def stop(self) -> None:
        if self.process:
            self.process.stop()
