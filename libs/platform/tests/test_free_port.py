"""Ports handed to embedded servers stay clear of the kernel's ephemeral range: an outgoing
connection (a database client, a readiness probe) can take an ephemeral port between the moment a
port is chosen and the moment its server binds it (CI once lost a chaos run to exactly that)."""

from __future__ import annotations

import socket

from verdicts.platform.embedded.process import _ephemeral_range, free_port


def test_ports_are_free_distinct_and_below_the_ephemeral_range():
    low, _high = _ephemeral_range()
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(1024 < p < low for p in ports)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[-1]))  # free when handed out
