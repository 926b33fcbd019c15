"""Benchmarks with their goals (issue #18), each a ratio against a baseline measured in the same run.

  make bench          python -m bench            the goal table at sizes that take minutes
  make bench-full     python -m bench --full     full sizes: 1,000,000 votes, the 100,000-vote crash
                                                 run, and the model benchmarks (inference, panel)
  make bench-profile  python -m bench --profile  py-spy profiles of votes, render and ingest, bench/results/
  python -m bench chaos                          the whole-pipeline chaos run (many minutes)
  python -m bench votes render ...               only those

Every part prints its own report, then one table: figure, measured, baseline, ratio, goal, met,
and the service's CPU seconds per 1,000 requests."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time

from bench import chaos, inference, ingest, pages, panel, pipeline, render, votes
from bench.harness import llama, servers
from bench.profile import profiled
from bench.table import Row
from bench.table import render as table

GOALS = ("votes", "ingest", "render", "pages", "pipeline")
MODELS = ("inference", "panel")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("only", nargs="*", choices=[[], "chaos", *GOALS, *MODELS], help="parts to run")
    parser.add_argument("--full", action="store_true", help="full sizes and the model benchmarks")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy votes, render and ingest into bench/results"
    )
    parser.add_argument("--tools", type=int, default=2000, help="tools announced in the ingest benchmark")
    parser.add_argument("--site-tools", type=int, default=1000, help="tools in the render benchmark")
    parser.add_argument("--raw-votes", type=int, default=20_000, help="raw JetStream publishes (baseline)")
    parser.add_argument("--vote-seconds", type=float, default=15, help="seconds of each wrk votes run")
    parser.add_argument("--memory-votes", type=int, help="votes before the second RSS reading")
    parser.add_argument("--crash-votes", type=int, help="votes cast through the votes crash run")
    parser.add_argument("--announcements", type=int, default=20, help="announcements timed in the pipeline")
    parser.add_argument("--chaos-tools", type=int, default=50, help="tools in the pipeline chaos run")
    parser.add_argument("--chaos-pipeline-votes", type=int, default=20_000, help="votes in the chaos run")
    parser.add_argument("--chaos-updates", type=int, default=5, help="tools updated in the chaos run")
    parser.add_argument("--chaos-seed", type=int, default=14, help="seed of the chaos monkey and workload")
    parser.add_argument("--chaos-budget", type=float, default=2400, help="seconds to the chaos run's verdict")
    args = parser.parse_args()
    if args.memory_votes is None:
        args.memory_votes = 1_000_000 if args.full else 100_000
    if args.crash_votes is None:
        args.crash_votes = 100_000 if args.full else 0
    return args


def main() -> None:
    args = arguments()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    chosen = set(args.only) or {*GOALS, *(MODELS if args.full else ())}
    if args.profile and not args.only:
        chosen = {"votes", "render", "ingest"}
    started = time.monotonic()
    rows: list[Row] = []
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
        sizes = (args.raw_votes, args.memory_votes, args.crash_votes, args.vote_seconds)
        measured = asyncio.run(votes.run(*sizes, profile=args.profile))
        print(votes.report(measured), flush=True)
        rows += votes.rows(measured)
    if chosen & {"render", "ingest", "pages", "pipeline", *MODELS}:
        with servers() as env:
            if "render" in chosen:
                with profiled(None, "render", enabled=args.profile):
                    measured = asyncio.run(render.run(env, args.site_tools))
                print(render.report(measured), flush=True)
                rows += render.rows(measured)
            if "ingest" in chosen:
                measured = asyncio.run(ingest.run(env, args.tools, profile=args.profile))
                print(ingest.report(measured), flush=True)
                rows += ingest.rows(measured)
            if "pages" in chosen:
                measured = asyncio.run(pages.run(env))
                print(pages.report(measured), flush=True)
                rows += pages.rows(measured)
            if "inference" in chosen:
                with llama(env) as model_url:
                    print(inference.report(asyncio.run(inference.run(env, model_url))), flush=True)
            if "panel" in chosen:
                with llama(env) as model_url:
                    print(panel.report(asyncio.run(panel.run(env, model_url))), flush=True)
    if "pipeline" in chosen:
        measured = asyncio.run(pipeline.run(args.announcements))
        print(pipeline.report(measured), flush=True)
        rows += pipeline.rows(measured)
    if rows:
        print(f"\nbenchmarks took {time.monotonic() - started:.0f} s on {cores()} cores\n", flush=True)
        print(table(rows), flush=True)


def cores() -> int:
    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
