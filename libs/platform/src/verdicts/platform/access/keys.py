"""Partner API keys, pure: the key format, scopes and what a key may do.

A key reads ``vdk_<id>_<secret>``: the id is a visible prefix for lookup and support, the secret
256 random bits. Only ``sha256(key)`` is stored; a slow password hash buys nothing for a secret
that cannot be guessed, and would cost every request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

KEY_PREFIX = "vdk_"
_KEY = re.compile(r"^vdk_([a-z0-9]{10})_([A-Za-z0-9_-]{43})$")
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
VENDOR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 .&'_-]{0,79}$")


class Scope(StrEnum):
    TOOLS_WRITE = "tools:write"
    REVIEWS_RERUN = "reviews:rerun"
    INFERENCE = "inference"
    ADMIN = "admin"


class MalformedKey(ValueError):
    """The bearer value is not shaped like a key (so it cannot be one of ours)."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A known key, as the guards see it (never the secret)."""

    key_id: str
    name: str
    scopes: frozenset[Scope]
    vendors: frozenset[str]
    revoked: bool = False

    def allows(self, scope: Scope) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes

    def owns_vendor(self, vendor: str) -> bool:
        """``tools:write`` is only for the vendors a key is bound to (admin: any vendor)."""
        return Scope.ADMIN in self.scopes or vendor.casefold() in {v.casefold() for v in self.vendors}


@dataclass(frozen=True, slots=True)
class NewKey:
    key_id: str
    secret_key: str
    digest: bytes


def new_key() -> NewKey:
    key_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return NewKey(key_id=key_id, secret_key=key, digest=digest(key))


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("ascii")).digest()


def parse_key(value: str) -> str:
    """The key id of a well-formed key, else ``MalformedKey`` (never echoing the value)."""
    match = _KEY.fullmatch(value.strip())
    if match is None:
        raise MalformedKey("not a Verdicts API key")
    return match.group(1)


def parse_scopes(text: str | list[str]) -> frozenset[Scope]:
    names = text.split(",") if isinstance(text, str) else text
    scopes = set()
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        try:
            scopes.add(Scope(name))
        except ValueError:
            known = ", ".join(s.value for s in Scope)
            raise ValueError(f"unknown scope {name!r} (known: {known})") from None
    if not scopes:
        raise ValueError("a key needs at least one scope")
    return frozenset(scopes)


def check_vendor(vendor: str) -> str:
    if not VENDOR.fullmatch(vendor):
        raise ValueError(f"invalid vendor name {vendor!r}")
    return vendor
