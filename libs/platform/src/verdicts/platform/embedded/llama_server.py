"""Entry point of the embedded model server: llama.cpp's C++ HTTP server through ``xllamacpp``.

``python -m verdicts.platform.embedded.llama_server --model FILE --port N`` serves the
OpenAI-compatible API (``/v1/models``, ``/v1/chat/completions`` with
``response_format: json_schema``) until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys


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
