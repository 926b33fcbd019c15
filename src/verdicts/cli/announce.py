"""`verdicts announce FILE`: send a JSON or YAML list of tools to ingest's batch API."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import yaml

from verdicts.cli.status import discover

OUTCOMES = ("accepted", "updated", "unchanged", "rejected")


class AnnounceError(Exception):
    pass


def load_tools(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AnnounceError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise AnnounceError(f"{path} is not UTF-8 text") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise AnnounceError(f"{path} is not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}") from None
    if not isinstance(data, list):
        raise AnnounceError(f"{path} must hold a list of tools")
    return data


def api_url(home: Path) -> str:
    if os.environ.get("VERDICTS_API_URL"):
        return os.environ["VERDICTS_API_URL"].rstrip("/")
    state = discover(home)
    if state.get("http_url"):
        return state["http_url"]
    return f"http://127.0.0.1:{os.environ.get('VERDICTS_PORT', '8000')}"


def send_batch(client: httpx.Client, items: list[Any]) -> list[dict[str, Any]]:
    response = client.post("/v1/tools/batch", json=items)
    if response.status_code != 200:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise AnnounceError(f"the API answered {response.status_code}: {detail}")
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def summarize(results: list[dict[str, Any]]) -> Counter[str]:
    counts: Counter[str] = Counter({k: 0 for k in OUTCOMES})
    counts.update(r["status"] for r in results)
    return counts
