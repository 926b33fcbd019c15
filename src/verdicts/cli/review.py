"""`verdicts review SLUG`: re-run a tool's review panel through review-panel's admin route."""

from __future__ import annotations

import time
from typing import Any

import httpx


class ReviewError(Exception):
    pass


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text


def start_panel(client: httpx.Client, slug: str) -> dict[str, Any]:
    """Ask for a fresh panel run; the answer names the version and run."""
    response = client.post(f"/v1/admin/tools/{slug}/reviews")
    if response.status_code != 202:
        raise ReviewError(f"the API answered {response.status_code}: {_detail(response)}")
    started: dict[str, Any] = response.json()
    return started


def wait_for_panel(
    client: httpx.Client, slug: str, version: int, run: int, timeout_s: float, poll_s: float = 1.0
) -> dict[str, Any]:
    """The panel run once no reviewer is still working on it."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get(f"/v1/tools/{slug}/reviews")
        if response.status_code != 200:
            raise ReviewError(f"the API answered {response.status_code}: {_detail(response)}")
        body = response.json()
        for entry in [body["latest"], *body["history"]]:
            if entry["version"] == version and entry["run"] == run and entry["panel"]["status"] != "running":
                return dict(entry)
        if time.monotonic() > deadline:
            raise ReviewError(
                f"the panel for {slug} v{version} run {run} is still running after {timeout_s:.0f}s"
            )
        time.sleep(poll_s)


def describe(entry: dict[str, Any]) -> list[str]:
    panel = entry["panel"]
    pct = "n/a" if panel["ship_pct"] is None else f"{panel['ship_pct']}%"
    lines = [
        f"v{entry['version']} run {entry['run']}: {panel['status']} — ship {panel['ship']}, "
        f"skip {panel['skip']}, failed {panel['failed']}, panel ship {pct}"
    ]
    for review in entry["reviews"]:
        outcome = review["verdict"] or f"failed ({review['failure_reason']})"
        lines.append(f"  {review['persona']}: {outcome}")
    return lines
