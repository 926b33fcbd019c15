"""The demo catalogue `verdicts up` announces on an empty catalogue, so a first run shows the
product: the panel reviews the tools and the home page fills in (off with ``VERDICTS_DEMO=0``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from verdicts.cli.announce import AnnounceError, load_tools, send_batch, summarize
from verdicts.platform.embedded.process import in_checkout

DEMO_CATALOGUE = Path("data/tools.sample.json")


def catalogue_is_empty(client: httpx.Client) -> bool:
    response = client.get("/v1/tools", params={"limit": 1})
    response.raise_for_status()
    return not response.json()["items"]


def wait_ready(client: httpx.Client, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if client.get("/health/ready").status_code == 200:
                return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AnnounceError("the services did not become ready")
        time.sleep(0.2)


def announce_demo(base_url: str, headers: dict[str, str], say: Callable[[str], None]) -> None:
    """Announce the demo catalogue through ingest's batch API when no tool is known yet."""
    catalogue = in_checkout(DEMO_CATALOGUE)
    if catalogue is None:
        say(f"No demo catalogue ({DEMO_CATALOGUE} not found): add tools with `verdicts announce FILE`.")
        return
    try:
        with httpx.Client(base_url=base_url, timeout=60, headers=headers) as client:
            wait_ready(client, 120)
            if not catalogue_is_empty(client):
                return
            counts = summarize(send_batch(client, load_tools(catalogue)))
    except (AnnounceError, httpx.HTTPError) as exc:
        say(f"The demo catalogue was not announced: {exc}")
        return
    say(
        f"Announced the demo catalogue ({counts['accepted']} tools, {catalogue}); the panel is "
        f"reviewing them: watch {base_url}/ (VERDICTS_DEMO=0 skips this)."
    )


def announce_demo_in_background(base_url: str, headers: dict[str, str], say: Callable[[str], None]) -> None:
    """Once the HTTP server answers (it starts listening after the app's start-up hooks)."""
    threading.Thread(
        target=announce_demo, args=(base_url, headers, say), name="verdicts-demo", daemon=True
    ).start()
