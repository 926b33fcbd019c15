"""Chaos over the whole pipeline: 50 tools announced and 20,000 votes cast (by default) while
nats-server, PostgreSQL, the model server and each service process are killed with SIGKILL and
started again at random moments; prints each kill as it happens, then each check with its figures.

Not in the default `python -m bench` set (it takes many minutes: 50 tools are 200+ reviews by the
local model); run it as `python -m bench chaos [--chaos-tools N --chaos-pipeline-votes N]`.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from pipeline_chaos import Report, Sizes, run


def say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


async def chaos(tools: int, votes: int, updates: int, seed: int, budget_s: float) -> Report:
    folder = Path(tempfile.mkdtemp(prefix="verdicts-chaos-"))
    sizes = Sizes(tools=tools, votes=votes, updates=updates, seed=seed, budget_s=budget_s)
    try:
        return await run(folder, sizes, say=say)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def report(result: Report) -> str:
    return "\n".join(result.lines())
