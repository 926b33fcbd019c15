"""A voter token costs a solved ALTCHA proof of work (PyPI ``altcha``, its v1 challenge format).

The server hands out a challenge: a random salt (with its expiry inside it), ``challenge =
SHA-256(salt + n)`` for a secret random ``n`` in ``[0, max_number]``, and an HMAC of the challenge
under a key only the server holds. The client finds ``n`` by trying numbers from 0 (on average
``max_number / 2`` SHA-256 hashes) and sends back the base64 JSON payload the ALTCHA libraries
produce. The server checks the hash and the HMAC (no state needed), the expiry, and then spends the
challenge once (PostgreSQL, so it holds across replicas; see ``store.spend_challenge``).

What a thousand voters cost an attacker at the defaults (``max_number`` 200,000, 3 tokens a minute
per address after a burst of 5), measured on the 2-core AMD EPYC build machine:

- Work: 1,000 tokens x 100,000 expected hashes = 1e8 SHA-256 hashes. That is about 130 s of one
  core in CPython's ``hashlib`` (about 750,000 hashes/s), about 20 s of one core in native code
  (``openssl speed sha256``: about 5 million 64-byte hashes/s), and well under a second on one GPU.
  A real voter's browser pays the same 100,000 hashes once per browser (the cookie is kept a year):
  about 1 s in headless Chromium's WebCrypto on that machine (about 90,000 digests/s), less on a
  desktop. The work alone is a speed bump, not a wall.
- Addresses: minting is limited per client address (IPv4 as is, IPv6 per /64; behind a trusted
  proxy the address comes from ``X-Forwarded-For``): 1,000 tokens from one address take about 5.5
  hours (5 at once, then 3 a minute), or 200 addresses at once. The limiter lives in each process, so
  N replicas allow N times that. An attacker holding an IPv6 /48 has 65,536 /64s, so the limit binds
  people with one address, not operators of address space: the real cost of a thousand fake voters is
  a couple of hundred addresses (or hours), plus seconds to minutes of compute.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from altcha.v1 import SHA256, ChallengeOptions, create_challenge, verify_solution

ALGORITHM = SHA256
KEY_PURPOSE = b"verdicts.votes.altcha.v1"
MAX_PAYLOAD_CHARS = 2000  # a real payload is about 400; anything longer is refused before decoding


class BadSolution(ValueError):
    """The payload is malformed, does not solve a challenge we signed, or has expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Solved:
    """A checked solution: the challenge to spend once, and until when it must stay spent."""

    challenge: str
    expires_at: dt.datetime


def altcha_key(secret: str) -> bytes:
    """The challenges' HMAC key, derived from the voter-token secret for this one purpose."""
    if not secret:
        raise ValueError("the voter-token secret must not be empty")
    return hmac.new(secret.encode(), KEY_PURPOSE, hashlib.sha256).digest()


def new_challenge(key: bytes, max_number: int, ttl: dt.timedelta, now: dt.datetime) -> dict[str, Any]:
    """A fresh challenge as ALTCHA clients expect it (``algorithm, challenge, maxnumber, salt,
    signature``); it expires ``ttl`` after ``now`` (the expiry is part of the signed salt)."""
    challenge = create_challenge(
        ChallengeOptions(algorithm=ALGORITHM, max_number=max_number, hmac_key=key, expires=now + ttl)
    )
    return {
        "algorithm": challenge.algorithm,
        "challenge": challenge.challenge,
        "maxnumber": challenge.max_number,
        "salt": challenge.salt,
        "signature": challenge.signature,
    }


def check_solution(payload: str, key: bytes) -> Solved:
    """The challenge ``payload`` solves, or ``BadSolution`` (its reason never echoes the input)."""
    fields = _decode(payload)
    expires = _expiry(fields["salt"])
    # altcha compares the signature with ``==``; a constant-time check first leaks nothing about it.
    signed = hmac.new(key, fields["challenge"].encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signed.encode(), fields["signature"].encode()):
        raise BadSolution("does not solve a challenge")
    ok, error = verify_solution(fields, key, check_expires=True)  # type: ignore[call-overload]
    if not ok:
        raise BadSolution("expired" if error and "expired" in error else "does not solve a challenge")
    return Solved(challenge=fields["challenge"], expires_at=expires)


def _decode(payload: str) -> dict[str, Any]:
    if not payload or len(payload) > MAX_PAYLOAD_CHARS:
        raise BadSolution("malformed payload")
    try:
        fields = json.loads(base64.b64decode(payload, validate=True))
    except (binascii.Error, ValueError, RecursionError):  # deep nesting: RecursionError, not a 500
        raise BadSolution("malformed payload") from None
    if not isinstance(fields, dict):
        raise BadSolution("malformed payload")
    strings = ("algorithm", "challenge", "salt", "signature")
    if not all(isinstance(fields.get(name), str) for name in strings):
        raise BadSolution("malformed payload")
    number = fields.get("number")
    if not isinstance(number, int) or isinstance(number, bool) or number < 0:
        raise BadSolution("malformed payload")
    if fields["algorithm"] != ALGORITHM:
        raise BadSolution("unsupported algorithm")
    return {name: fields[name] for name in (*strings, "number")}


def _expiry(salt: str) -> dt.datetime:
    """Our challenges all carry ``expires``; a salt without one was never ours."""
    _, _, query = salt.partition("?")
    values = urllib.parse.parse_qs(query).get("expires")
    if not values:
        raise BadSolution("does not solve a challenge")
    try:
        return dt.datetime.fromtimestamp(int(values[0]), dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise BadSolution("malformed payload") from None
