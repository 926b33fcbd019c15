"""Run every benchmark: `make bench` (or `.venv/bin/python -m bench [--tools N]`)."""

from __future__ import annotations

import argparse
import asyncio

from bench import inference, ingest, panel, render, votes
from bench.harness import llama, servers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tools", type=int, default=2000, help="tools announced in the ingest benchmark")
    parser.add_argument(
        "only",
        nargs="*",
        choices=[[], "ingest", "inference", "panel", "render", "votes"],
        help="benchmarks to run (all)",
    )
    parser.add_argument("--site-tools", type=int, default=1000, help="tools in the render benchmark")
    parser.add_argument("--votes", type=int, default=20_000, help="votes in the throughput run")
    parser.add_argument(
        "--memory-votes", type=int, default=1_000_000, help="votes before the second RSS reading"
    )
    parser.add_argument("--chaos-votes", type=int, default=100_000, help="votes cast through the crash run")
    args = parser.parse_args()
    chosen = set(args.only) or {"ingest", "inference", "panel", "render", "votes"}
    if "votes" in chosen:
        print(
            votes.report(asyncio.run(votes.run(args.votes, args.memory_votes, args.chaos_votes))), flush=True
        )
    with servers() as env:
        if "render" in chosen:
            print(render.report(asyncio.run(render.run(env, args.site_tools))), flush=True)
        if "ingest" in chosen:
            print(ingest.report(asyncio.run(ingest.run(env, args.tools))), flush=True)
        if "inference" in chosen:
            with llama(env) as model_url:
                print(inference.report(asyncio.run(inference.run(env, model_url))), flush=True)
        if "panel" in chosen:
            with llama(env) as model_url:
                print(panel.report(asyncio.run(panel.run(env, model_url))), flush=True)


if __name__ == "__main__":
    main()
