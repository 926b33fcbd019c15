"""Run every benchmark: `make bench` (or `.venv/bin/python -m bench [--tools N]`).

`python -m bench chaos` runs the whole-pipeline chaos run (not in the default set: it takes many
minutes); it prints each kill and each check."""

from __future__ import annotations

import argparse
import asyncio

from bench import chaos, inference, ingest, panel, render, votes
from bench.harness import llama, servers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tools", type=int, default=2000, help="tools announced in the ingest benchmark")
    parser.add_argument(
        "only",
        nargs="*",
        choices=[[], "chaos", "ingest", "inference", "panel", "render", "votes"],
        help="benchmarks to run (all but chaos)",
    )
    parser.add_argument("--site-tools", type=int, default=1000, help="tools in the render benchmark")
    parser.add_argument("--votes", type=int, default=20_000, help="votes in the throughput run")
    parser.add_argument(
        "--memory-votes", type=int, default=1_000_000, help="votes before the second RSS reading"
    )
    parser.add_argument("--chaos-votes", type=int, default=100_000, help="votes cast through the crash run")
    parser.add_argument("--chaos-tools", type=int, default=50, help="tools in the pipeline chaos run")
    parser.add_argument(
        "--chaos-pipeline-votes", type=int, default=20_000, help="votes in the pipeline chaos run"
    )
    parser.add_argument("--chaos-updates", type=int, default=5, help="tools updated in the chaos run")
    parser.add_argument("--chaos-seed", type=int, default=14, help="seed of the chaos monkey and workload")
    parser.add_argument(
        "--chaos-budget", type=float, default=2400, help="seconds before the chaos run's checks are final"
    )
    args = parser.parse_args()
    chosen = set(args.only) or {"ingest", "inference", "panel", "render", "votes"}
    if "chaos" in chosen:
        result = asyncio.run(
            chaos.chaos(
                args.chaos_tools,
                args.chaos_pipeline_votes,
                args.chaos_updates,
                args.chaos_seed,
                args.chaos_budget,
            )
        )
        print(chaos.report(result), flush=True)
    if "votes" in chosen:
        print(
            votes.report(asyncio.run(votes.run(args.votes, args.memory_votes, args.chaos_votes))), flush=True
        )
    if not chosen & {"render", "ingest", "inference", "panel"}:
        return
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
