"""Ports for the embedded servers, and their child processes (``verdicts.platform.processes``)."""

from __future__ import annotations

import random
import socket
from collections.abc import Callable
from pathlib import Path

from verdicts.platform.processes import EmbeddedError, ManagedProcess

__all__ = ["EmbeddedError", "ManagedProcess", "check_port_free", "free_port", "port_in_use", "tcp_probe"]


_LOWEST_PORT = 10_000
_handed_out: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32_768, 60_999  # Linux's default


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now and outside the kernel's ephemeral range: a port the kernel hands out itself
    can be taken by any outgoing connection (a PostgreSQL client, a probe) before the server meant
    for it binds it, which fails that server's start with "address already in use"."""
    low, _high = _ephemeral_range()
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(_LOWEST_PORT, low) if low > _LOWEST_PORT + 1_000 else 0
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            port = int(sock.getsockname()[1])
        _handed_out.add(port)
        return port
    raise EmbeddedError(f"no free port found on {host}")


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def check_port_free(port: int, what: str, variable: str) -> None:
    if port_in_use(port):
        raise EmbeddedError(
            f"port {port} for {what} is already in use: stop whatever listens there "
            f"or set {variable} to another port"
        )


def tcp_probe(host: str, port: int) -> Callable[[], bool]:
    def probe() -> bool:
        with socket.create_connection((host, port), timeout=0.5):
            return True

    return probe


def in_checkout(relative: Path) -> Path | None:
    """``relative`` in the repository this code runs from (the nearest folder above holding it)."""
    for parent in Path(__file__).resolve().parents:
        if (candidate := parent / relative).is_file():
            return candidate
    return None
