"""Ports for the embedded servers, and their child processes (``verdicts.platform.processes``)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from verdicts.platform.processes import EmbeddedError, ManagedProcess

__all__ = ["EmbeddedError", "ManagedProcess", "check_port_free", "free_port", "port_in_use", "tcp_probe"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


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
