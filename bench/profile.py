"""Profiles of a running process with py-spy (``make bench-profile``): the collapsed stacks (what
flame graph tools read) and the top frames by own and by total samples, under ``bench/results/``."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
RATE_HZ = 100
TOP = 15


def py_spy() -> str:
    return shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")


@contextlib.contextmanager
def profiled(pid: int | None, name: str, enabled: bool = True) -> Iterator[None]:
    """Sample ``pid`` (this process when None) with py-spy while the block runs; writes
    ``bench/results/<name>.collapsed`` and ``<name>-top.txt``."""
    if not enabled:
        yield
        return
    RESULTS.mkdir(exist_ok=True)
    collapsed = RESULTS / f"{name}.collapsed"
    command = [py_spy(), "record", "--pid", str(pid or os.getpid()), "--rate", str(RATE_HZ)]
    command += ["--format", "raw", "--output", str(collapsed), "--nonblocking"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        _, errors = proc.communicate(timeout=60)
        if collapsed.exists():
            (RESULTS / f"{name}-top.txt").write_text(top_frames(collapsed.read_text()))
        else:
            print(f"py-spy wrote no profile for {name}: {errors.decode()[-500:]}", file=sys.stderr)


def top_frames(collapsed: str, top: int = TOP) -> str:
    """The frames with the most samples of their own (where the time is spent) and in total
    (what it is spent under), from py-spy's collapsed stacks ("f1;f2;f3 COUNT" lines)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n

    def table(title: str, counts: Counter[str]) -> list[str]:
        return [title] + [f"  {n / samples:6.1%}  {frame}" for frame, n in counts.most_common(top)]

    if not samples:
        return "no samples\n"
    return "\n".join([f"{samples} samples", *table("own", own), *table("total", total)]) + "\n"
