"""The HTTP load generator: Debian's compiled ``wrk`` (installed by ``make wrk``), driven by the Lua
scripts in ``bench/wrk/`` and pinned away from the service (``harness.load_cpus``), so that what is
measured is the service and not the client."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import load_cpus

SCRIPTS = Path(__file__).parent / "wrk"


@dataclass(frozen=True)
class WrkResult:
    requests: int
    """Answers received."""
    sent: int
    ok: int
    """Answers with a 2xx or 3xx status."""
    seconds: float
    socket_errors: int
    timeouts: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[int, int]

    @property
    def per_s(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @classmethod
    def parse(cls, output: str) -> WrkResult:
        line = next((x for x in output.splitlines() if x.startswith("WRK_JSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk printed no result:\n{output[-2000:]}")
        raw: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
        return cls(
            requests=raw["requests"],
            sent=raw["sent"],
            ok=raw["ok"],
            seconds=raw["duration_us"] / 1e6,
            socket_errors=raw["connect_errors"] + raw["read_errors"] + raw["write_errors"],
            timeouts=raw["timeouts"],
            p50_ms=raw["p50_us"] / 1000,
            p90_ms=raw["p90_us"] / 1000,
            p99_ms=raw["p99_us"] / 1000,
            max_ms=raw["max_us"] / 1000,
            statuses={int(k): v for k, v in raw["statuses"].items()},
        )


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed: run `make wrk` (Debian's package)")
    return found


def wrk(
    url: str,
    script: str,
    *args: str | int | float,
    connections: int = 32,
    threads: int = 1,
    duration_s: float = 10,
    timeout_s: float = 10,
) -> WrkResult:
    """Run ``wrk`` with ``bench/wrk/<script>.lua`` against ``url``; its arguments follow ``--``."""
    command = [
        "taskset",
        "-c",
        ",".join(str(c) for c in sorted(load_cpus())),
        wrk_binary(),
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, round(duration_s))}s",
        f"--timeout={max(1, round(timeout_s))}s",
        f"--script={SCRIPTS / f'{script}.lua'}",
        url,
        "--",
        *(str(a) for a in args),
    ]
    env = os.environ | {"LUA_PATH": f"{SCRIPTS}/?.lua;;"}
    out, err = subprocess.PIPE, subprocess.STDOUT
    with subprocess.Popen(command, env=env, text=True, stdout=out, stderr=err) as proc:
        assert proc.stdout is not None
        lines, limited = [], 0
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("WRK_LIMIT"):
                limited += 1
                if limited == threads:  # every thread reached its limit: end the run now (SIGINT
                    proc.send_signal(signal.SIGINT)  # makes wrk report, as at the end of --duration)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {''.join(lines)[-2000:]}")
    return WrkResult.parse("".join(lines))
