"""`verdicts announce` on a file it cannot use says why in one line (no traceback, nothing sent)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

VERDICTS = str(Path(sys.executable).parent / "verdicts")


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("tools.json", b'[{"name": "x",', "is not valid json"),
        ("tools.yaml", b"- name: [unclosed", "is not valid yaml"),
        ("tools.json", b'{"name": "not a list"}', "must hold a list of tools"),
        ("tools.json", b"\xff\xfe\x00garbage", "is not utf-8 text"),
    ],
)
def test_a_bad_file_is_one_clear_line(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    # An address nothing listens on: the command must fail before it would send anything.
    result = subprocess.run(
        [VERDICTS, "announce", str(path), "--api", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert words in result.stderr.lower()
    assert "cannot reach the api" not in result.stderr.lower()
