"""Test and benchmark helpers: the pytest harness (``plugin``) and the repository's sample data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# The demo catalogue (12 tools) kept in the repository: libs/platform/src/verdicts/platform/testing/.
SAMPLE_TOOLS_FILE = Path(__file__).resolve().parents[6] / "data" / "tools.sample.json"


def sample_tools() -> list[dict[str, Any]]:
    """The demo catalogue, a fresh copy each call."""
    tools: list[dict[str, Any]] = json.loads(SAMPLE_TOOLS_FILE.read_text())
    return tools
