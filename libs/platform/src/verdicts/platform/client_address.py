"""Who is asking: the client address behind trusted proxies, and the key rate limits use for it.

``X-Forwarded-For`` is believed only when the peer is a configured trusted proxy
(``VERDICTS_TRUSTED_PROXIES``); then the list is read right to left, skipping trusted proxies, and
the first address that is not one is the client. Anyone else's header is ignored: otherwise any
client could name itself whatever address it liked. IPv6 clients are keyed per /64, the block one
subscriber usually holds, so rotating through it does not buy fresh limits.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=64)
def parse_networks(text: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 127.0.0.1"`` → networks; ValueError names a bad entry."""
    networks = []
    for raw in text.split(","):
        entry = raw.strip()
        if entry:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"not an IP address or network: {entry!r}") from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: Sequence[Network]) -> bool:
    return any(address in network for network in trusted)


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The client's address: the peer, or from ``X-Forwarded-For`` when the peer is trusted."""
    peer_address = _address(peer or "")
    if peer_address is None:
        return peer or "unknown"
    if not forwarded_for or not trusted or not _trusted(peer_address, trusted):
        return str(peer_address)
    client = peer_address
    for hop in reversed(forwarded_for.split(",")):
        address = _address(hop)
        if address is None:  # a garbled hop: stop at the last address a trusted proxy vouched for
            break
        client = address
        if not _trusted(address, trusted):
            break
    return str(client)


def limit_key(address: str) -> str:
    """The rate-limit key for an address: IPv4 as it is, IPv6 its /64."""
    parsed = _address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed) if parsed is not None else address
