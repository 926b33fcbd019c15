"""The benchmark's own instruments: the goal table judges figures right, and the wrk scripts (real
Debian wrk against a local recording server) do what the figures assume: the votes script casts each
(voter, tool) pair once, with a fresh nonce, and stops at its limit; the bodies script posts each
body once and stops when all are answered."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bench.profile import top_frames
from bench.table import Goal, Row, render
from bench.wrk import WrkResult, wrk

pytestmark = pytest.mark.unit


def test_a_ratio_goal_is_judged_on_the_ratio_and_an_absolute_goal_on_the_figure():
    fast = Row("votes", 600, "votes/s", Goal.at_least(0.5), 1000, "raw/s")
    slow = Row("ingest", 200, "tools/s", Goal.at_least(0.3), 1000, "raw/s")
    quick_site = Row("site", 9.5, "s", Goal.at_most(10))
    shown = Row("drain", 50, "tools/s", None, 1000, "raw/s")
    assert (fast.met, slow.met, quick_site.met, shown.met) == (True, False, True, None)
    table = render([fast, slow, quick_site, shown])
    assert "goals met: 2 of 3" in table
    assert table.splitlines()[3].split(" | ")[3:6] == ["0.20 ", ">= 0.3", "NO "]


def test_wrk_output_without_its_result_line_is_an_error():
    with pytest.raises(RuntimeError, match="no result"):
        WrkResult.parse("Running 1s test\n")


def test_top_frames_count_own_and_total_samples():
    text = top_frames("main;handle;encode 3\nmain;handle 1\nmain;idle 4\n")
    assert "8 samples" in text
    assert "50.0%  idle" in text.split("total")[0]
    assert "50.0%  handle" in text.split("total")[1]


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects
    bodies: list[dict[str, Any]] = []
    keys: list[str | None] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            self.bodies.append(body)
            self.keys.append(self.headers.get("X-Bench-Key"))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed: `make test` installs it (make wrk)")
    Recorder.bodies, Recorder.keys = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_votes_script_casts_each_voter_and_tool_once_and_stops_at_its_limit(recorder, tmp_path: Path):
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("".join(f"token-{i}\n" for i in range(50)))
    result = wrk(
        recorder,
        "votes",
        tokens,
        "alpha,beta,gamma",
        40,
        0,
        2,
        1000,
        threads=2,
        connections=4,
        duration_s=120,
    )
    bodies = Recorder.bodies
    assert result.ok >= 80  # each of the two threads answered its 40
    assert result.statuses == {202: result.requests}
    assert len(bodies) <= result.sent
    pairs = {(b["voter_token"], b["tool"]) for b in bodies}
    nonces = {b["nonce"] for b in bodies}
    assert len(pairs) == len(nonces) == len(bodies)  # never the same ballot twice
    assert min(int(n.removeprefix("wrk-")) for n in nonces) >= 1000  # after an earlier run's ballots
    assert {b["choice"] for b in bodies} == {"ship", "skip"}
    assert result.seconds < 30  # stopped at its limit, not at --duration's end


def test_the_bodies_script_posts_each_body_once_with_the_headers_and_stops(recorder, tmp_path: Path):
    bodies, headers = tmp_path / "bodies.txt", tmp_path / "headers.txt"
    bodies.write_text("".join(json.dumps({"n": i}) + "\n" for i in range(101)))
    headers.write_text("Content-Type: application/json\nX-Bench-Key: secret: with colon\n")
    result = wrk(
        recorder, "bodies", "/v1/tools", bodies, headers, 2, threads=2, connections=8, duration_s=120
    )
    assert sorted(b["n"] for b in Recorder.bodies) == list(range(101))  # each once, none lost
    assert Recorder.keys == ["secret: with colon"] * 101
    assert result.ok == result.requests == result.sent == 101
    assert result.seconds < 30  # stopped once every body was answered
