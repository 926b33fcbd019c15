"""Anonymous voter tokens: a random voter id, HMAC-signed so it cannot be forged or chosen.

One ballot per voter needs a stable voter identity without accounts or personal data: the service hands
out a random id (128 bits from ``secrets``) signed with its secret, and later trusts only ids whose
signature checks, so nobody can mint fresh identities offline or vote as someone else. The signing is
``itsdangerous.Signer`` (HMAC-SHA256, a salt that scopes the key to this purpose, constant-time
comparison) rather than hand-rolled ``hmac``: the same well-kept code Flask's sessions rely on.

The page's vote form carries the voter token in a cookie, so it also carries a CSRF token: an HMAC of
the voter id under a key derived from the secret for that purpose alone. A page of another site can
make a browser send the cookie, but cannot read the CSRF token that goes with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from itsdangerous import BadData, Signer

SALT = "verdicts.votes.voter-token.v1"
CSRF_PURPOSE = b"verdicts.votes.csrf.v1"
MAX_TOKEN_CHARS = 128  # a real token is 66; anything much longer is refused before any HMAC work
_VOTER_ID = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16)
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}")  # voter id . HMAC-SHA256 (base64)


class InvalidVoterToken(ValueError):
    """The token is empty, garbled, too long, or not signed with this secret."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _signer(secret: str) -> Signer:
    if not secret:
        raise ValueError("the voter-token secret must not be empty")
    return Signer(secret, salt=SALT, digest_method=hashlib.sha256)


def issue_token(secret: str) -> tuple[str, str]:
    """A fresh ``(token, voter_id)``: hand the token to the voter, key ballots on the voter id."""
    voter_id = secrets.token_urlsafe(16)
    return _signer(secret).sign(voter_id).decode("ascii"), voter_id


def verify_token(token: str, secret: str) -> str:
    """The voter id inside ``token``, or ``InvalidVoterToken`` (its reason never echoes the input)."""
    signer = _signer(secret)
    if not token:
        raise InvalidVoterToken("empty token")
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidVoterToken("token too long")
    try:
        voter_id = signer.unsign(token).decode("ascii")
    except (BadData, UnicodeError):
        raise InvalidVoterToken("bad signature") from None
    if not _VOTER_ID.fullmatch(voter_id):
        raise InvalidVoterToken("malformed voter id")
    return voter_id


def looks_like_token(token: str) -> bool:
    """Whether ``token`` has a real token's shape (its signature may still be wrong): only such a
    token counts against a tool's public "discarded" figure; garbage does not."""
    return _TOKEN_SHAPE.fullmatch(token) is not None


def csrf_key(secret: str) -> bytes:
    """The CSRF tokens' HMAC key, derived from the voter-token secret for this one purpose."""
    if not secret:
        raise ValueError("the voter-token secret must not be empty")
    return hmac.new(secret.encode(), CSRF_PURPOSE, hashlib.sha256).digest()


def csrf_token(key: bytes, voter_id: str) -> str:
    """The CSRF token that goes with ``voter_id`` (stable: the same voter gets the same token)."""
    mac = hmac.new(key, voter_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


def csrf_matches(key: bytes, voter_id: str, token: str | None) -> bool:
    """Constant-time check of a form's CSRF token against its voter."""
    if not token:
        return False
    return hmac.compare_digest(csrf_token(key, voter_id).encode(), token.encode())
