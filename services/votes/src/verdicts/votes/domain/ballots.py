"""What makes a ballot one ballot, and which tool facts are newer."""

from __future__ import annotations

import hashlib


def ballot_id(voter: str, tool: str, nonce: str) -> str:
    """The ballot's ``Nats-Msg-Id``: a retried request (same nonce) is one ballot."""
    return "ballot:" + hashlib.sha256(f"{voter}\x1f{tool}\x1f{nonce}".encode()).hexdigest()[:40]


def split_pair(pair: str) -> tuple[str, str] | None:
    """``"a-vs-b"`` as ``("a", "b")``; ``None`` when it is not a pair of two slugs."""
    a, sep, b = pair.partition("-vs-")
    if not sep or not a or not b:
        return None
    return a, b


def canonical_pair(a: str, b: str, winner: str) -> tuple[str, str, str]:
    """The pair in slug order, the winner renamed to match: "A vs B, a wins" is "B vs A, b wins"."""
    if a > b:
        return b, a, {"a": "b", "b": "a"}.get(winner, winner)
    return a, b, winner
