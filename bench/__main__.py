"""Run every benchmark: `make bench` (or `.venv/bin/python -m bench [--tools N]`)."""

from __future__ import annotations

import argparse
import asyncio

from bench import inference, ingest
from bench.harness import llama, servers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tools", type=int, default=2000, help="tools announced in the ingest benchmark")
    parser.add_argument(
        "only", nargs="*", choices=[[], "ingest", "inference"], help="benchmarks to run (all)"
    )
    args = parser.parse_args()
    chosen = set(args.only) or {"ingest", "inference"}
    with servers() as env:
        if "ingest" in chosen:
            print(ingest.report(asyncio.run(ingest.run(env, args.tools))), flush=True)
        if "inference" in chosen:
            with llama(env) as model_url:
                print(inference.report(asyncio.run(inference.run(env, model_url))), flush=True)


if __name__ == "__main__":
    main()
