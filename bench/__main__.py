"""Run every benchmark: `make bench` (or `.venv/bin/python -m bench [--tools N]`)."""

from __future__ import annotations

import argparse
import asyncio

from bench import ingest
from bench.harness import servers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tools", type=int, default=2000, help="tools announced in the ingest benchmark")
    args = parser.parse_args()
    with servers() as env:
        print(ingest.report(asyncio.run(ingest.run(env, args.tools))), flush=True)


if __name__ == "__main__":
    main()
